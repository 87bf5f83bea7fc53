"""Set up Hotspot Miner's alert: a Prefect automation that sends a notification for each batch of new hotspots.

    make alerts WEBHOOK_URL=https://example.org/hook      # a Custom Webhook block named hotspot-alerts
    make alerts ALERT_BLOCK=slack-webhook/my-slack        # any notification block saved before (Slack, email, ...)

What it creates on the server that PREFECT_API_URL names (scripts/prefect-local.sh sets it):

- with WEBHOOK_URL, a Custom Webhook notification block ``hotspot-alerts`` that POSTs JSON
  ``{"subject": ..., "body": ..., "event": ...}`` to the URL (replaced when it exists);
- the automation ``hotspot-new-hotspots``: on every ``hotspot.batch`` event (one per run of the daily record
  that found hotspots never alerted before, tasks/report/alerts.py), send one notification through the block,
  its subject the count and run date, its body one line per new hotspot. Running this again replaces it.
"""

from __future__ import annotations

import argparse
import sys

AUTOMATION = "hotspot-new-hotspots"
WEBHOOK_BLOCK = "hotspot-alerts"
SUBJECT = "Hotspot Miner: {{ event.payload.count }} new hotspot(s), run date {{ event.payload.run_date }}"
BODY = (
    "{{ event.payload.message }}\n"
    "{% for h in event.payload.hotspots %}"
    "- {{ h.region }} {{ h.period }}: {{ h.direction }}, {{ h.severity }}, actual {{ h.actual }}, "
    "expected {{ h.expected }}, p {{ h.p_value }} ({{ h.detector }})\n"
    "{% endfor %}"
    "{% if event.payload.listed < event.payload.count %}... and more, see the report\n{% endif %}"
    "Report: {{ event.payload.report }}"
)


def webhook_block(url: str) -> str:
    """Save the Custom Webhook block (replacing one of the same name) -> its block document id."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=WEBHOOK_BLOCK,
        url=url,
        json_data={"subject": "{{subject}}", "body": "{{body}}", "event": "hotspot.batch"},
    )
    return str(block.save(WEBHOOK_BLOCK, overwrite=True))


def saved_block(slug: str) -> str:
    """The block document id of a saved notification block, given as ``<block type slug>/<name>``."""
    from prefect.blocks.core import Block

    if "/" not in slug:
        raise SystemExit(f"error: ALERT_BLOCK must be <block type>/<name>, e.g. slack-webhook/my-slack (got {slug!r})")
    block = Block.load(slug)
    return str(block._block_document_id)


def install(block_document_id: str) -> str:
    """Create the automation (deleting one of the same name first) -> its id."""
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(AUTOMATION):
            client.delete_automation(old.id)
    automation = Automation(
        name=AUTOMATION,
        description="One notification per run of the daily record that found new hotspots (Hotspot Miner).",
        trigger=EventTrigger(
            expect={"hotspot.batch"},
            match={"prefect.resource.id": "hotspot.store.*"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    ).create()
    return str(automation.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--webhook-url", help="POST each notification as JSON to this URL")
    where.add_argument("--block", help="send through this saved notification block, <block type>/<name>")
    args = parser.parse_args(argv)
    if args.webhook_url:
        if not args.webhook_url.startswith(("http://", "https://")):
            parser.error(f"--webhook-url must be an http(s) URL, got {args.webhook_url!r}")
        block_id, through = webhook_block(args.webhook_url), f"webhook block '{WEBHOOK_BLOCK}' -> {args.webhook_url}"
    else:
        block_id, through = saved_block(args.block), f"block '{args.block}'"
    automation_id = install(block_id)
    print(f"Automation '{AUTOMATION}' ({automation_id}): each batch of new hotspots is sent through {through}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
