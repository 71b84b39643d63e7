"""The demo shop's intents: their names, the keywords that name them, and the cache
policy of an LLM answer to each."""

from __future__ import annotations

from agentcore.keyword_intents import KeywordClassifier
from agentcore.router import CachePolicy

INTENTS = ("order_status", "shipping_info", "refund_policy", "refund_status",
           "refund_request", "cancel_order", "billing", "password_reset", "account",
           "payment_methods", "technical", "human_request", "greeting", "contact", "other")

# Same answer for everyone: nothing in it comes from a customer's records.
_SHARED = ("shipping_info", "payment_methods", "contact", "refund_policy", "technical",
           "greeting")
# Read a customer's records: keyed by the customer, dropped when the records change.
_PER_CUSTOMER = ("order_status", "refund_status", "account")
# Acted (or may act) on the shop, or belong to a person: never replayed from a cache.
_NEVER = ("refund_request", "cancel_order", "billing", "password_reset", "human_request",
          "other")


def intent_policies() -> dict[str, CachePolicy]:
    policies: dict[str, CachePolicy] = {}
    policies.update(dict.fromkeys(_SHARED, "shared"))
    policies.update(dict.fromkeys(_PER_CUSTOMER, "per-customer"))
    policies.update(dict.fromkeys(_NEVER, "never"))
    return policies


# Order is the tie-break: when two intents score the same, the earlier one wins,
# so specific intents beat the catch-alls listed last.
KEYWORDS: dict[str, dict[str, float]] = {
    "refund_status": {
        "where is my refund": 4, "refund status": 4, "status of my refund": 4,
        "my refund yet": 4, "received my refund": 4, "receive my refund": 4,
        "get my refund": 2, "refund arrived": 3, "still waiting": 2, "refunded yet": 3,
        "wo bleibt meine erstattung": 4, "ou en est mon remboursement": 4,
        "estado de mi reembolso": 4, "où en est mon remboursement": 4,
    },
    "refund_policy": {
        "refund policy": 4, "return policy": 4, "policy": 2, "return window": 4,
        "how long do i have": 3, "how many days": 2, "can i return": 3, "refundable": 2,
        "non refundable": 2, "restocking fee": 3, "rückgaberecht": 3,
        "politique de retour": 3, "política de devolución": 3,
    },
    "refund_request": {
        "refund*": 2, "money back": 3, "reimburs*": 2, "return it": 1, "i want a refund": 2,
        "want to return": 4, "like to return": 4, "refund me": 2, "want my money back": 2,
        "like a refund": 2, "need a refund": 2, "refund it": 2,
        "full refund": 1, "rückerstattung": 3, "erstatt*": 2, "geld zurück": 3,
        "rembours*": 3, "reembols*": 3, "devolución": 2, "devolver": 2,
    },
    "cancel_order": {
        "cancel*": 4, "stornier*": 4, "storno": 4, "annul*": 4, "cancelar": 4,
        "don't want it anymore": 2, "changed my mind": 2,
    },
    "billing": {
        "charged twice": 5, "double charge*": 5, "charged=": 2, "charges=": 2, "billing": 3,
        "billed": 3, "bill": 2, "invoice*": 3, "receipt": 2, "twice": 2, "overcharg*": 4,
        "rechnung": 3, "abgebucht": 3, "doppelt": 3, "factur*": 3, "débité": 2, "cobr*": 2,
        "charge=": 2, "an invoice": 2, "the invoice": 2, "my invoice": 2,
    },
    "order_status": {
        "where is my order": 5, "order status": 4, "status of my order": 4, "track*": 3,
        "tracking": 2,
        "arriv*": 2, "hasn't arrived": 2, "package": 2, "parcel": 2, "late": 1,
        "when will": 1, "not received": 2, "wo ist meine bestellung": 5, "sendung": 2,
        "paket": 2, "où est ma commande": 5, "colis": 2, "suivi": 2,
        "dónde está mi pedido": 5, "seguimiento": 2,
    },
    "shipping_info": {
        "shipping": 3, "ship to": 2, "do you ship": 3, "delivery time": 3, "delivery cost": 3,
        "how long does delivery": 3, "international*": 2, "express": 2, "versand*": 3,
        "lieferzeit": 3, "livraison": 3, "envío": 3, "envio": 3,
    },
    "password_reset": {
        "password": 4, "passwort": 4, "kennwort": 4, "mot de passe": 4, "contraseña": 4,
        "reset": 2, "log in": 2, "login": 2, "sign in": 2, "locked out": 3, "forgot": 2,
        "cant log in": 2, "can't log in": 2, "cannot log in": 2, "can't login": 2,
        "cant login": 2,
    },
    "payment_methods": {
        "payment method*": 4, "payment option*": 4, "pay with": 3, "paypal": 3,
        "gift card": 2, "credit card": 2, "klarna": 3, "apple pay": 3, "do you accept": 3,
        "installment*": 3, "can i pay": 2, "pay cash": 2, "cash": 2,
        "zahlungsmethode*": 4, "zahlungsart*": 4,
        "moyen de paiement": 4, "moyens de paiement": 4, "método de pago": 4,
        "métodos de pago": 4,
    },
    "account": {
        "account": 2, "my email": 2, "email address": 2, "change my address": 3,
        "delete my account": 4, "on my account": 2,
        "my address": 2, "new address": 2, "address changed": 2, "update my address": 2,
        "changed my address": 2,
        "profile": 2, "store credit": 3, "konto": 2, "compte": 2,
        "cuenta": 2, "personal data": 2, "gdpr": 3, "newsletter": 2, "unsubscrib*": 3,
    },
    "technical": {
        "error": 3, "bug": 3, "crash*": 3, "not working": 3, "doesn't work": 3, "broken": 2,
        "website": 2, "app": 2, "won't load": 3, "loading": 2, "checkout": 2, "glitch": 3,
        "browser": 2, "fehler": 3, "funktioniert nicht": 3, "erreur": 3,
        "ne marche pas": 3, "no funciona": 3,
    },
    "human_request": {
        "human": 4, "real person": 5, "a person": 3, "speak to": 3, "talk to": 3,
        "representative": 4, "live agent": 4, "agent": 2, "operator": 2, "mensch": 4,
        "mitarbeiter": 3, "humain": 4, "conseiller": 3, "humano": 4, "persona real": 4,
    },
    "contact": {
        "contact*": 3, "phone number": 4, "phone": 2, "call you": 3, "email you": 3,
        "opening hours": 3, "hotline": 3, "kontakt": 3, "telefon*": 3, "teléfono": 3,
        "can call": 2, "number to call": 2, "a number": 2, "phone line": 2,
    },
    "greeting": {
        "hello": 1, "hi": 1, "hey": 1, "good morning": 1, "good afternoon": 1, "hallo": 1,
        "bonjour": 1, "hola": 1, "guten tag": 1, "salut": 1, "thanks": 1, "thank you": 1,
    },
}

classify = KeywordClassifier(KEYWORDS).classify  # the mock LLM's cheap model
