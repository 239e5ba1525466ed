"""CSV cells that stay text in a spreadsheet (CSV/formula injection, OWASP).

A cell that starts with =, +, -, @, a tab or a carriage return is read by Excel, LibreOffice and Google Sheets as
a formula (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`), so a value typed by a customer or an import could run when
staff open an export. Every CSV we export passes its text through `spreadsheet_text`, which prefixes such a cell
with an apostrophe: spreadsheets then show the text as it was typed."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value
