-- The opening assortment (reference data, so it ships as a migration).
INSERT INTO products (sku, name, price_cents, currency) VALUES
    ('MM-1001', 'Espresso beans, 1 kg', 2490, 'EUR'),
    ('MM-1002', 'Ceramic pour-over dripper', 3200, 'EUR'),
    ('MM-1003', 'Burr grinder', 12900, 'EUR')
ON CONFLICT (sku) DO NOTHING;
