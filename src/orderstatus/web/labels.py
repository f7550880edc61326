"""Names of statuses and progress steps as customers and staff read them.

Plain functions rather than template macros: every card of every page and live update
shows a dozen of them, and a macro call costs far more than a lookup.
"""

from __future__ import annotations

from orderstatus.i18n import N_, gettext

_STATUS = {
    "label_purchased": N_("Preparing to ship"),
    "label_printed": N_("Preparing to ship"),
    "confirmed": N_("Preparing to ship"),
    "no_recent_updates": N_("No recent updates"),
    "carrier_picked_up": N_("Picked up by the carrier"),
    "in_transit": N_("On its way"),
    "delayed": N_("Delayed"),
    "out_for_delivery": N_("Out for delivery"),
    "attempted_delivery": N_("Delivery attempted"),
    "ready_for_pickup": N_("Ready for pickup"),
    "failure": N_("Problem with delivery"),
    "returned_to_sender": N_("Returned to sender"),
    "picked_up": N_("Picked up"),
    "delivered": N_("Delivered"),
}

_STEP = {
    "confirmed": N_("Confirmed"),
    "in_transit": N_("On its way"),
    "out_for_delivery": N_("Out for delivery"),
}


def status_label(status: object) -> str:
    """A shipment status in the active language (an unknown one as it is)."""
    label = _STATUS.get(str(status))
    return gettext(label) if label else str(status)


def step_label(step: object) -> str:
    """A step of the progress bar in the active language."""
    return gettext(_STEP.get(str(step), N_("Delivered")))
