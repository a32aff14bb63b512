"""The truth the demo's traffic is drawn from: who visits what, and each variant's effect.

Three effects are planted so that the results can be checked against them
(docs/demo.md, tests/integration/test_demo.py):

- a clear winner: the green homepage button is clicked by 26 % of visitors against 20 %
  for blue (+30 % relative);
- a null result: every reply style of the support bot resolves 55 % of conversations
  and is rated alike;
- a sample-ratio mismatch: the split-URL test sends half of its visitors to the
  redesigned page, but a quarter of those leave during the redirect, before the page's
  exposure is recorded (the classic cause of SRM in split-URL tests), so the redesign
  shows about 43 % of the units instead of 50 %.

The checkout test and the bandit carry smaller, realistic differences: the one-page
layout and express pay each add a little to the purchase rate, express pay cuts the
checkout latency, and the "bundle" headline is clicked most.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CAMPAIGN_SHARE",
    "CHAT_SHARE",
    "CHECKOUT_SHARE",
    "COUNTRIES",
    "DEALS_SHARE",
    "DEVICES",
    "PLANS",
    "STAFF_SHARE",
    "BanditRates",
    "Chat",
    "Checkout",
    "Homepage",
    "Landing",
]

# Visitors' attributes: (values, probabilities).
COUNTRIES: Final = (
    ("US", "GB", "DE", "NL", "FR", "CA", "IN"),
    (0.34, 0.14, 0.13, 0.08, 0.1, 0.09, 0.12),
)
DEVICES: Final = (("desktop", "mobile", "tablet"), (0.45, 0.47, 0.08))
PLANS: Final = (("free", "pro"), (0.82, 0.18))
STAFF_SHARE: Final = 0.01  # employees, excluded from every experiment by a segment

# Share of visitors who reach each part of the site (everyone sees the homepage).
CAMPAIGN_SHARE: Final = 0.6  # arrive from a campaign on the landing page (split-URL test)
DEALS_SHARE: Final = 0.5  # open the deals page (bandit)
CHAT_SHARE: Final = 0.35  # open the support chat
CHECKOUT_SHARE: Final = 0.3  # reach the checkout


class Homepage:
    """The clear winner."""

    CLICK: Final = {"blue": 0.20, "green": 0.26}
    LOAD_MEDIAN_MS: Final = 850.0  # page load, log-normal, the same for both colours
    LOAD_SIGMA: Final = 0.45


class Chat:
    """The null result: no style changes anything."""

    RESOLVED: Final = 0.55
    RATE_SHARE: Final = 0.6  # of conversations end with a rating
    RATINGS: Final = ((1, 2, 3, 4, 5), (0.06, 0.09, 0.2, 0.35, 0.3))


class Checkout:
    PURCHASE: Final = {
        "control": 0.30,
        "one-page": 0.32,
        "express": 0.33,
        "one-page-express": 0.345,
    }
    ORDER_MEDIAN_USD: Final = 62.0  # order value, log-normal
    ORDER_SIGMA: Final = 0.6
    LATENCY_MEDIAN_MS: Final = {
        "control": 1200.0,
        "one-page": 1150.0,
        "express": 950.0,
        "one-page-express": 930.0,
    }
    LATENCY_SIGMA: Final = 0.5


class BanditRates:
    CLICK: Final = {"discount": 0.05, "shipping": 0.04, "bundle": 0.075}


class Landing:
    """The sample-ratio mismatch."""

    SIGNUP: Final = {"current": 0.08, "redesign": 0.09}
    LOST_IN_REDIRECT: Final = 0.25  # of the redesign's visitors, never recorded
