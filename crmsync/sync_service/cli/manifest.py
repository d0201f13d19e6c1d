"""`crmsync manifest`: the Outlook add-in manifests for a deployment."""

from __future__ import annotations

import json
from pathlib import Path

import click

from crmsync.sync_service.cli import main


@main.command()
@click.option("--base-url", required=True, help="Where crmsync is served, e.g. https://crm.example.com")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory to write the manifests into.")
@click.option("--app-id", default=None, help="Add-in GUID (default: derived from the base URL).")
@click.option("--client-id", default=None,
              help="Entra app (client) id of crmsync's API, for Outlook SSO tokens.")
def manifest(base_url: str, out: Path, app_id: str | None, client_id: str | None) -> None:
    """Write manifest.xml (add-in-only) and manifest.json (unified) with their icons.

    The XML is checked against Microsoft's schemas before anything is written: a manifest
    Outlook would refuse is an error here, not at sideloading.
    """
    from crmsync.manifest import Deployment
    from crmsync.manifest.icons import png
    from crmsync.manifest.unified import render_localization, render_unified
    from crmsync.manifest.xml import check_xml, render_xml

    deployment = Deployment.for_url(base_url, app_id, client_id)
    xml = render_xml(deployment)
    check_xml(xml)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.xml").write_text(xml, encoding="utf-8")
    (out / "manifest.json").write_text(
        json.dumps(render_unified(deployment), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (out / "zh-cn.json").write_text(
        json.dumps(render_localization("zh-CN"), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (out / "color.png").write_bytes(png(192))
    (out / "outline.png").write_bytes(png(32, outline=True))
    click.echo(f"wrote manifest.xml, manifest.json (+ zh-cn.json, color.png, outline.png) to {out}")
    click.echo(f"add-in id {deployment.app_id}; the pane loads from {deployment.pane('read')}")
