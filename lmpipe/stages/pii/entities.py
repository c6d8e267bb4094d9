"""PII types the `pii` stage knows (presidio's entity names where it has one). No heavy imports here."""

EMAIL = "EMAIL_ADDRESS"
PHONE = "PHONE_NUMBER"
KR_RRN = "KR_RRN"
KR_ARN = "KR_FRN"  # alien (foreigner) registration number; presidio's name
KR_PASSPORT = "KR_PASSPORT"
KR_DRIVER_LICENSE = "KR_DRIVER_LICENSE"
BANK_ACCOUNT = "BANK_ACCOUNT"
CREDIT_CARD = "CREDIT_CARD"
IP_ADDRESS = "IP_ADDRESS"
US_SSN = "US_SSN"
IBAN = "IBAN_CODE"
ENTITIES: tuple[str, ...] = (
    EMAIL, PHONE, KR_RRN, KR_ARN, KR_PASSPORT, KR_DRIVER_LICENSE, BANK_ACCOUNT, CREDIT_CARD, IP_ADDRESS, US_SSN, IBAN,
)  # fmt: skip
