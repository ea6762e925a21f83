-- Orders as placed; the status moves on as other services react to OrderPlaced.
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku text NOT NULL CHECK (sku <> ''),
    quantity integer NOT NULL CHECK (quantity > 0),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'confirmed', 'rejected', 'shipped')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_created_at ON orders (created_at DESC);
