"""The demo shop, generated: a few hundred customers and about a thousand orders.

Everything comes from one `random.Random(seed)` and the `as_of` date, never the
wall clock, so the same seed gives byte-for-byte the same tables and the
committed request corpus keeps pointing at real orders. `placed_at`, payment
times and logins are ISO date-times (the latest order must sort uniquely);
other dates are ISO dates. Money is integer cents.
"""

from __future__ import annotations

import os
import random
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from agentcore.demo_shop.schema import SHOP_SCHEMA

N_CUSTOMERS = 240
N_ORDERS = 1200
_CUSTOMERS_WITHOUT_ORDERS = 12  # new sign-ups: "my latest order" has no answer for them

# name: (refund window in days after delivery, restocking fee %); 0 days = not refundable
CATEGORIES: dict[str, tuple[int, float]] = {
    "electronics": (30, 10.0), "clothing": (60, 0.0), "books": (14, 0.0),
    "groceries": (0, 0.0), "furniture": (30, 15.0), "toys": (30, 0.0),
    "beauty": (14, 0.0), "software": (0, 0.0),
}

_PRODUCTS: dict[str, str] = {  # "name:price in cents" separated by semicolons
    "electronics": "Wireless Headphones:12999;Bluetooth Speaker:5999;USB-C Charger:2499;"
                   "27-inch 4K Monitor:32999;Mechanical Keyboard:8999;Wireless Mouse:2999;"
                   "Smartwatch:19999;10-inch Tablet:34999;HD Webcam:6999;Power Bank:3999",
    "clothing": "Rain Jacket:8999;Wool Sweater:6499;Running Shoes:11999;Denim Jeans:5999;"
                "Cotton T-Shirt:1999;Winter Coat:17999;Summer Dress:4999;Hiking Socks 3-Pack:1499;"
                "Leather Belt:3499;Baseball Cap:2299",
    "books": "The Quiet Garden:1699;Cooking for Two:2499;A Short History of Maps:2199;"
             "Python in Practice:3999;The Night Train:1499;Mountain Trails Guide:2799;"
             "Children's Atlas:1999;Mindful Mornings:1599;The Art of Bread:2999;"
             "Space Explorers:1299",
    "groceries": "Organic Coffee Beans 1kg:2499;Green Tea 50 Bags:899;Olive Oil 1L:1399;"
                 "Dark Chocolate Box:1199;Pasta Variety Pack:1099;Wildflower Honey:999;"
                 "Granola:749;Spice Set:2199;Maple Syrup:1299;Mixed Nuts:1499",
    "furniture": "Oak Desk:34999;Office Chair:22999;Bookshelf:12999;Floor Lamp:7999;"
                 "Bedside Table:8999;Sofa Cushion Set:4999;Dining Chair:9999;Coffee Table:15999;"
                 "Wall Shelf:3999;Shoe Rack:4499",
    "toys": "Building Blocks Set:4999;Remote Control Car:5999;Plush Bear:1999;"
            "1000-Piece Puzzle:2299;Board Game Night:3499;Wooden Train Set:6999;Doll House:8999;"
            "Science Kit:3999;Stunt Kite:1999;Water Blaster:1499",
    "beauty": "Face Moisturiser:2499;Argan Shampoo:1299;Perfume 50ml:6999;Lip Balm Set:999;"
              "Ionic Hair Dryer:5999;Sunscreen SPF50:1599;Nail Polish Set:1899;Beard Oil:1499;"
              "Body Lotion:1399;Makeup Brush Set:2999",
    "software": "Photo Editor Pro:7999;Antivirus 1 Year:3999;Office Suite:9999;Video Editor:8999;"
                "Password Manager 1 Year:2999;Language Course:4999;Music Studio:14999;"
                "Tax Helper 2026:3999;VPN 1 Year:5999;Star Colony (Game):5999",
}

# language: (first names, last names, [(country, weight)], email domains)
_PEOPLE: dict[str, tuple[str, str, list[tuple[str, int]], str]] = {
    "en": ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William "
           "Barbara Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Nancy Matthew "
           "Lisa Anthony Emily Olivia Liam Noah Ava Sophia Ethan Mia Lucas Chloe Priya Arjun Wei "
           "Mei Kenji Aisha Omar Fatima Sean Niamh Siobhan Connor Grace Zoe",
           "Smith Johnson Williams Brown Jones Garcia Miller Davis Wilson Anderson Taylor Thomas "
           "Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Young King "
           "Wright Scott Green Baker Adams Nelson Patel Nguyen Kim Chen O'Brien Murphy Kelly "
           "Walsh Campbell Singh Khan Okafor",
           [("US", 50), ("GB", 25), ("CA", 10), ("AU", 8), ("IE", 7)],
           "gmail.com outlook.com yahoo.com icloud.com hotmail.co.uk proton.me"),
    "de": ("Lukas Anna Jonas Lena Leon Marie Felix Sophie Paul Hannah Jürgen Mia Maximilian "
           "Katrin Tobias Julia Matthias Sabine Stefan Ursula",
           "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
           "Richter Klein Wolf Schröder Neumann Braun Zimmermann Krüger Hofmann",
           [("DE", 75), ("AT", 15), ("CH", 10)], "web.de gmx.de t-online.de gmail.com"),
    "fr": ("Louis Camille Jules Léa Hugo Chloé Arthur Manon Gabriel Inès Théo Zoé Raphaël "
           "Élodie Antoine Margaux Lucas Céline Mathis Océane",
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
           "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier",
           [("FR", 80), ("BE", 10), ("CA", 10)], "orange.fr free.fr gmail.com laposte.net"),
    "es": ("Sofía Mateo Lucía Santiago Valentina Diego Martina Alejandro Camila Pablo Isabella "
           "Javier Carmen Andrés Elena Miguel Paula Carlos Julia Álvaro",
           "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín "
           "Jiménez Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Navarro",
           [("ES", 60), ("MX", 25), ("AR", 15)], "gmail.com hotmail.es yahoo.es outlook.es"),
}
_LANGUAGE_WEIGHTS = [("en", 78), ("de", 9), ("fr", 7), ("es", 6)]

_CARRIERS = {"US": ("UPS", "FedEx", "USPS"), "GB": ("Royal Mail", "DPD"),
             "CA": ("Canada Post", "UPS"), "AU": ("Australia Post",), "IE": ("An Post", "DPD"),
             "DE": ("DHL", "DPD"), "AT": ("DHL", "Post AT"), "CH": ("Swiss Post", "DHL"),
             "FR": ("La Poste", "DPD"), "BE": ("bpost", "DPD"), "ES": ("Correos", "DHL"),
             "MX": ("DHL", "FedEx"), "AR": ("Correo Argentino", "DHL")}

FAQ: list[tuple[str, str, str]] = [  # (question, answer, tags)
    ("How long does shipping take?", "Standard shipping takes 3-5 business days within the "
     "country and 7-14 internationally. Express takes 1-2 business days.",
     "shipping delivery time how long days express"),
    ("How much does shipping cost?", "Standard shipping is free on orders over $50, otherwise "
     "$4.99. Express shipping costs $14.99.", "shipping cost price free express fee"),
    ("Do you ship internationally?", "Yes, to the EU, the UK, Canada, Australia, Mexico and "
     "Argentina. Duties are shown at checkout.", "international shipping abroad countries customs"),
    ("How do I track my order?", "Open Orders in your account: shipped orders show the carrier "
     "and a tracking link.", "track tracking order status carrier where"),
    ("What is your return policy?", "Most items can be returned within their category's window "
     "after delivery; groceries and software cannot be returned.",
     "return refund policy window days"),
    ("Is there a restocking fee?", "Electronics carry a 10% restocking fee and furniture 15%; "
     "everything else is free to return.", "restocking fee return electronics furniture"),
    ("How long does a refund take?", "Once approved, refunds reach your original payment method "
     "within 5-10 business days.", "refund time days bank card money back"),
    ("Which payment methods do you accept?", "Visa, Mastercard, American Express, PayPal and "
     "our gift cards.", "payment methods card paypal gift visa mastercard"),
    ("My payment failed but money was taken", "A failed payment can show as a pending hold "
     "that your bank releases within 3-5 days; contact us if it was captured.",
     "payment failed charged pending hold bank billing"),
    ("I was charged twice", "Duplicate charges are refunded once we confirm them; tell us the "
     "order number.", "charged twice duplicate double charge billing"),
    ("How do I reset my password?", "Choose 'Forgot password' on the sign-in page and follow "
     "the link we email you; it is valid for one hour.",
     "password reset forgot login sign in"),
    ("I did not receive the password reset email", "Check your spam folder, then ask us to "
     "send a new link.", "password reset email link spam not received"),
    ("The app keeps crashing", "Update the app to the latest version and restart your phone; "
     "if it still crashes, send us your device model.", "app crash crashes mobile update bug"),
    ("I get an error at checkout", "Clear your browser cache or try another browser; if the "
     "error persists, send us the error message.", "checkout error payment page bug browser"),
    ("How do I delete my account?", "Ask support to delete it; we confirm by email and erase "
     "your data within 30 days.", "account delete close remove data privacy"),
    ("How do I change my email address?", "Go to Account > Profile > Email, enter the new "
     "address and confirm the link we send to it.", "email change account update profile"),
    ("How do I change my shipping address?", "Go to Account > Addresses. Orders already "
     "shipped keep their address.", "address change shipping account update"),
    ("How do gift cards work?", "Gift cards never expire and can pay for all or part of an "
     "order.", "gift card cards balance voucher"),
    ("Can I cancel my order?", "Orders can be cancelled until they ship; after that, return "
     "them instead.", "cancel order cancellation shipped"),
    ("What is store credit?", "Store credit comes from goodwill gestures and returns; it is "
     "used automatically at checkout.", "store credit balance account"),
    ("Why is my account locked?", "Accounts lock after five failed sign-ins; resetting your "
     "password unlocks them.", "account locked login sign in password"),
    ("When is customer service open?", "Monday to Friday 8:00-20:00 and Saturday 9:00-17:00 "
     "(CET); chat answers around the clock.", "contact hours opening support phone"),
    ("How can I contact you?", "Chat here, email support@example-shop.com or call "
     "+1 555 0100 during opening hours.", "contact email phone support"),
    ("Do you offer price matching?", "No, but we run seasonal sales.",
     "price match discount sale"),
    ("My package says delivered but I don't have it", "Check with neighbours and your "
     "building; if it doesn't turn up within 48 hours, contact us.",
     "delivered missing package lost stolen"),
]


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in "._"))


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _ in pairs], [w for _, w in pairs])[0]


def _customers(rng: random.Random, as_of: date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    emails: set[str] = set()
    for cid in range(1, N_CUSTOMERS + 1):
        language = _weighted(rng, _LANGUAGE_WEIGHTS)
        firsts, lasts, countries, domains = _PEOPLE[language]
        first, last = rng.choice(firsts.split()), rng.choice(lasts.split())
        f, la = _ascii(first).lower(), _ascii(last).lower()
        local = rng.choice([f"{f}.{la}", f"{f}{la}", f"{f[0]}.{la}", f"{f}_{la}", f"{la}.{f}"])
        if rng.random() < 0.3:
            local += str(rng.randint(1, 99))
        email = f"{local}@{rng.choice(domains.split())}"
        while email in emails:  # unique by construction, still random-looking
            email = f"{local}{rng.randint(100, 999)}@{email.split('@')[1]}"
        emails.add(email)
        rows.append({
            "id": cid, "name": f"{first} {last}", "email": email,
            "country": _weighted(rng, countries), "language": language,
            "tier": "plus" if rng.random() < 0.2 else "standard",
            "created_at": (as_of - timedelta(days=rng.randint(30, 1800))).isoformat(),
        })
    return rows


def _accounts(rng: random.Random, as_of: date,
              customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for customer in customers:
        cid = customer["id"]
        r = rng.random()
        status = "locked" if r < 0.04 else "suspended" if r < 0.06 else "active"
        age = (as_of - date.fromisoformat(customer["created_at"])).days
        login = _stamp(rng, as_of - timedelta(days=rng.randint(1, min(120, age))))
        reset = _stamp(rng, as_of - timedelta(days=rng.randint(1, 30))) if (
            status == "locked" or rng.random() < 0.05) else None
        credit = rng.choice([500, 1000, 1500, 2000, 2500, 5000, 7500, 12000]) + rng.randint(0, 99)
        rows.append({"customer_id": cid, "status": status, "last_login_at": login,
                     "password_reset_sent_at": reset,
                     "store_credit_cents": credit if rng.random() < 0.25 else 0})
    return rows


def _products() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for category, spec in _PRODUCTS.items():
        for item in spec.split(";"):
            name, price = item.rsplit(":", 1)
            rows.append({"id": len(rows) + 1, "name": name, "category": category,
                         "price_cents": int(price)})
    return rows


def _stamp(rng: random.Random, day: date) -> str:
    moment = datetime(day.year, day.month, day.day, rng.randint(7, 22), rng.randint(0, 59),
                      rng.randint(0, 59))
    return moment.isoformat()


def _tracking(rng: random.Random, carrier: str) -> str:
    digits = "0123456789"
    if carrier == "UPS":
        return "1Z" + "".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTVWXYZ", k=16))
    postal = {"Royal Mail": "GB", "An Post": "IE", "La Poste": "FR", "Correos": "ES",
              "Swiss Post": "CH"}
    if carrier in postal:  # the UPU format national posts share: XX123456789CC
        return ("".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2))
                + "".join(rng.choices(digits, k=9)) + postal[carrier])
    return "".join(rng.choices(digits, k=rng.choice([10, 12, 14])))


def _status_for_age(rng: random.Random, age: int) -> str:
    """Young orders are still moving; old ones are settled."""
    r = rng.random()
    if age <= 2:
        return "processing" if r < 0.85 else "cancelled"
    if age <= 10:
        return ("shipped" if r < 0.55 else "delivered" if r < 0.85
                else "processing" if r < 0.9 else "cancelled")
    return "delivered" if r < 0.82 else "returned" if r < 0.91 else "cancelled"


def _order_age(rng: random.Random) -> int:
    """Days before as_of: a recent-heavy spread, so refund windows are both open and closed."""
    r = rng.random()
    if r < 0.08:
        return rng.randint(1, 2)
    if r < 0.22:
        return rng.randint(3, 10)
    return min(540, 11 + int(rng.expovariate(1 / 120)))


def _orders(rng: random.Random, as_of: date, customers: list[dict[str, Any]],
            products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = rng.sample(range(10000, 100000), N_ORDERS)  # unique, in no particular order
    idle = set(rng.sample([c["id"] for c in customers], _CUSTOMERS_WITHOUT_ORDERS))
    buyers = [c for c in customers if c["id"] not in idle]
    weights = [rng.choice([1, 1, 1, 2, 2, 3, 5, 8]) for _ in buyers]
    owners = buyers + rng.choices(buyers, weights, k=N_ORDERS - len(buyers))
    rows = []
    for oid, customer in zip(ids, owners, strict=True):
        product = rng.choice(products)
        window, fee = CATEGORIES[product["category"]]
        quantity = 1 if product["category"] == "furniture" else rng.choice([1, 1, 1, 1, 2, 3])
        age = _order_age(rng)
        placed = as_of - timedelta(days=age)
        status = _status_for_age(rng, age)
        row: dict[str, Any] = {
            "id": oid, "customer_id": customer["id"], "product_id": product["id"],
            "quantity": quantity, "total_cents": product["price_cents"] * quantity,
            "status": status, "placed_at": _stamp(rng, placed), "shipped_at": None,
            "delivered_at": None, "carrier": None, "tracking_number": None,
        }
        if status in ("shipped", "delivered", "returned"):
            shipped = placed + timedelta(days=rng.randint(1, 2))
            carrier = rng.choice(_CARRIERS[customer["country"]])
            row |= {"shipped_at": shipped.isoformat(), "carrier": carrier,
                    "tracking_number": _tracking(rng, carrier)}
            if status != "shipped":
                delivered = min(as_of, shipped + timedelta(days=rng.randint(1, 6)))
                row["delivered_at"] = delivered.isoformat()
        if status == "returned":
            # Only refundable items come back, and only inside their window.
            back = (date.fromisoformat(row["delivered_at"])
                    + timedelta(days=rng.randint(2, max(2, window - 1))))
            if window == 0 or back >= as_of:
                row["status"] = "delivered"
            else:
                row["_returned_on"] = back
                row["_fee_pct"] = fee
        rows.append(row)
    return rows


def _payments_and_refunds(rng: random.Random, as_of: date, orders: list[dict[str, Any]],
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    payments: list[dict[str, Any]] = []
    refunds: list[dict[str, Any]] = []

    def pay(order: dict[str, Any], status: str, minutes: int = 0) -> None:
        at = datetime.fromisoformat(order["placed_at"]) + timedelta(minutes=minutes)
        payments.append({"id": len(payments) + 1, "order_id": order["id"],
                         "amount_cents": order["total_cents"], "method": order["_method"],
                         "status": status, "created_at": at.isoformat()})

    def refund(order: dict[str, Any], cents: int, reason: str, on: date) -> None:
        refunds.append({"id": len(refunds) + 1, "order_id": order["id"], "amount_cents": cents,
                        "reason": reason, "created_at": min(on, as_of).isoformat(),
                        "request_id": None})

    for order in orders:
        order["_method"] = rng.choices(["card", "paypal", "gift_card"], [70, 22, 8])[0]
        r = rng.random()
        if order["status"] == "cancelled":
            pay(order, "failed" if r < 0.3 else "refunded")  # refunded: the hold was released
        elif order["status"] == "returned":
            pay(order, "refunded")
            total = order["total_cents"]
            back: date = order["_returned_on"]
            refund(order, total - round(total * order["_fee_pct"] / 100), "returned item",
                   back + timedelta(days=rng.randint(1, 3)))
        else:
            if r < 0.06:  # "payment failed but money taken": a failed try, then a capture
                pay(order, "failed")
                pay(order, "captured", rng.randint(3, 40))
            elif r < 0.075:  # "charged twice": a duplicate capture nobody has refunded yet
                pay(order, "captured")
                pay(order, "captured", rng.randint(1, 3))
            else:
                pay(order, "captured")
            if order["status"] == "delivered":
                r2 = rng.random()
                if r2 < 0.012:
                    payments[-1]["status"] = "disputed"
                elif r2 < 0.05:  # partial refunds: goodwill or a damaged part
                    pct = rng.choice([10, 15, 20, 25, 30])
                    refund(order, round(order["total_cents"] * pct / 100),
                           rng.choice(["damaged packaging", "late delivery goodwill",
                                       "missing part"]),
                           date.fromisoformat(order["delivered_at"])
                           + timedelta(days=rng.randint(1, 5)))
    return payments, refunds


def _shop_rows(seed: int, as_of: date) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    customers = _customers(rng, as_of)
    accounts = _accounts(rng, as_of, customers)
    products = _products()
    orders = _orders(rng, as_of, customers, products)
    payments, refunds = _payments_and_refunds(rng, as_of, orders)
    first_order: dict[int, str] = {}
    for o in orders:
        day = o["placed_at"][:10]
        first_order[o["customer_id"]] = min(day, first_order.get(o["customer_id"], day))
    for c in customers:  # nobody ordered before they signed up
        c["created_at"] = min(c["created_at"], first_order.get(c["id"], c["created_at"]))
    for o in orders:
        for key in [k for k in o if k.startswith("_")]:
            del o[key]
    return {
        "meta": [{"key": "as_of", "value": as_of.isoformat()}, {"key": "seed", "value": str(seed)}],
        "customers": customers, "accounts": accounts,
        "categories": [{"name": n, "refund_window_days": w, "restocking_fee_pct": f}
                       for n, (w, f) in CATEGORIES.items()],
        "products": products, "orders": orders, "payments": payments, "refunds": refunds,
        "faq": [{"id": i, "question": q, "answer": a, "tags": t}
                for i, (q, a, t) in enumerate(FAQ, start=1)],
    }


def generate_shop(path: Path, *, seed: int = 2026, as_of: date = date(2026, 11, 1)) -> None:
    """Writes the demo shop to `path`, replacing any database already there.

    Built in a sibling file and moved into place, so a reader never sees a
    half-written shop.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite_utils.Database(tmp)
    try:
        db.executescript(SHOP_SCHEMA)
        for table, rows in _shop_rows(seed, as_of).items():
            db.table(table).insert_all(rows)
    finally:
        db.close()
    # A stale WAL next to the old file would be replayed into the new one.
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, path)


def ensure_shop(path: Path) -> Path:
    """The shop at `path`, generated with the default seed when missing."""
    path = Path(path)
    if not path.exists():
        generate_shop(path)
    return path
