-- The product list the catalog serves.
CREATE TABLE products (
    sku text PRIMARY KEY CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{0,31}$'),
    name text NOT NULL CHECK (name <> ''),
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$')
);
