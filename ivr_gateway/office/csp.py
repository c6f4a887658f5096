"""The dashboard's Content-Security-Policy, and the one page that carries its own styles.

The printable code sheet is one self-contained HTML document (the same file `codes sheet` writes
for printing offline), so its CSS is inline. A strict ``style-src 'self'`` blocks that, and the
sheet printed unstyled in one long column. Rather than loosen the policy with 'unsafe-inline',
the sheet's response names the SHA-256 of exactly its own <style> block (CSP level 2 hashes).
"""

from __future__ import annotations

import base64
import hashlib
import re

_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)


def content_security_policy(style_hashes: tuple[str, ...] = ()) -> str:
    """The dashboard's policy, allowing only the inline styles with these hashes."""
    styles = " ".join(["'self'", *(f"'{h}'" for h in style_hashes)])
    return ("default-src 'self'; img-src 'self' data:; "
            f"style-src {styles}; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def inline_style_hashes(html: str) -> tuple[str, ...]:
    """The CSP source of each <style> block of the page ('sha256-…')."""
    return tuple("sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
                 for block in _STYLE_BLOCK.findall(html))
