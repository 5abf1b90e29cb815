#!/usr/bin/env python3
"""Opens a HydraSim step-through page in headless Chromium and reports what a learner sees, as JSON.

usage: browser_check.py PAGE STEP
- loads PAGE#step=STEP and reads the step counter, the visible step sections and the mask title;
- loads PAGE, presses the right arrow STEP-1 times, and reads the counter again;
- collects the browser console's errors.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait


def visible_steps(driver, view):
    return [int(s.get_attribute("data-step")) for s in driver.find_elements(By.CSS_SELECTOR, f"#view-{view} section.step")
            if s.get_attribute("hidden") is None]


def main():
    page, step = sys.argv[1], int(sys.argv[2])
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        report = {}
        driver.get(f"file://{page}#step={step}&view=run0")
        report["hash_where"] = driver.find_element(By.ID, "where").text
        report["hash_run0_steps"] = visible_steps(driver, "run0")
        report["hash_tokens_visible"] = len([t for t in driver.find_elements(By.CSS_SELECTOR, ".text-run:first-child .tok") if t.get_attribute("hidden") is None])
        # A big page keeps each step deflated until it is shown: wait for the step's diagram to be inflated.
        selector = f"#view-run0 section.step[data-step='{step}'] svg"
        try:
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
        except Exception:
            pass
        report["hash_diagram_svgs"] = len(driver.find_elements(By.CSS_SELECTOR, selector))
        report["compressed_sections"] = len(driver.find_elements(By.CSS_SELECTOR, "section.step[data-z]"))
        driver.execute_script("document.querySelector(\"button[data-view='mask']\").click()")
        report["mask_title"] = driver.find_element(By.ID, "mask-title").text
        report["mask_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "#mask table.mask tr")) - 1
        driver.get(f"file://{page}")
        body = driver.find_element(By.TAG_NAME, "body")
        for _ in range(step - 1):
            body.send_keys(Keys.ARROW_RIGHT)
        report["keys_where"] = driver.find_element(By.ID, "where").text
        report["errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(json.dumps(report))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
