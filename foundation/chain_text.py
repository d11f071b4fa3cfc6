"""How the chain's values are written as text where people and files give them: a 32-byte value (a transaction hash,
a loanTermsHash) as 0x and 64 hex digits. A pattern of its own here, light to import: the inbox's row rules check
files' columns with it, and the CLI a hash typed on the command line before anything else loads."""

BYTES32_TEXT = r"^0x[0-9a-fA-F]{64}$"
