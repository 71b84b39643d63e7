"""The demo shop's SQLite schema. Money is integer cents throughout."""

SHOP_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    language TEXT NOT NULL,          -- 'en', 'de', 'fr', 'es'
    tier TEXT NOT NULL,              -- 'standard', 'plus'
    created_at TEXT NOT NULL         -- ISO date
);
CREATE TABLE IF NOT EXISTS accounts (
    customer_id INTEGER PRIMARY KEY REFERENCES customers(id),
    status TEXT NOT NULL,            -- 'active', 'locked', 'suspended'
    last_login_at TEXT,
    password_reset_sent_at TEXT,
    store_credit_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS categories (
    name TEXT PRIMARY KEY,
    refund_window_days INTEGER NOT NULL,   -- days after delivery; 0 = not refundable
    restocking_fee_pct REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL REFERENCES categories(name),
    price_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,          -- five digits, as customers quote them
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    status TEXT NOT NULL,            -- 'processing','shipped','delivered','cancelled','returned'
    placed_at TEXT NOT NULL,
    shipped_at TEXT,
    delivered_at TEXT,
    carrier TEXT,
    tracking_number TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders(customer_id);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    amount_cents INTEGER NOT NULL,
    method TEXT NOT NULL,            -- 'card', 'paypal', 'gift_card'
    status TEXT NOT NULL,            -- 'captured', 'failed', 'refunded', 'disputed'
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments(order_id);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    amount_cents INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    request_id TEXT                  -- the agent request that issued it, if any
);
CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds(order_id);
CREATE TABLE IF NOT EXISTS faq (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    tags TEXT NOT NULL               -- space-separated keywords
);
-- Idempotency of write tools: one row per (request, tool, arguments), written in
-- the same transaction as the write itself, so a retry returns the first result.
CREATE TABLE IF NOT EXISTS tool_actions (
    key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
