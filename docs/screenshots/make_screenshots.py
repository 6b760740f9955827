"""Take the README's screenshots: ``.venv/bin/python docs/screenshots/make_screenshots.py``.

Starts a seeded kefu server the way the browser tests do (tests/browser/conftest.py),
opens the agent workspace on a realistic conversation (tests/browser/scenes.py) in
Chromium at 1440×900 and writes docs/screenshots/workspace.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from playwright.sync_api import sync_playwright  # noqa: E402
from tests.browser.conftest import PASSWORD, LiveDesk  # noqa: E402
from tests.browser.scenes import open_workspace  # noqa: E402
from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def main() -> None:
    template = LiveDesk.prepare()
    desk = LiveDesk.from_template(template)
    try:
        desk.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:

                def login(username: str, *, path: str, **options: object) -> object:
                    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
                    page = context.new_page()
                    page.goto(f"{desk.url}/login/?next={path}")
                    page.fill("#id_username", username)
                    page.fill("#id_password", PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_url(f"{desk.url}{path}")
                    return page

                page = open_workspace(desk, login)
                page.screenshot(path=HERE / "workspace.png")
            finally:
                browser.close()
    finally:
        desk.stop()
        template.stop()
    print(HERE / "workspace.png")


if __name__ == "__main__":
    main()
