"""Waiting, finding and screenshots for the browser tests (no fixed sleeps: every wait is
for something on the page)."""

from __future__ import annotations

from pathlib import Path

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

TIMEOUT = 30


def wait_for(driver: WebDriver, css: str, text: str = "", timeout: float = TIMEOUT) -> WebElement:
    """The first visible element matching ``css`` whose text contains ``text``."""

    def found(d: WebDriver) -> WebElement | bool:
        try:
            for element in d.find_elements(By.CSS_SELECTOR, css):
                if element.is_displayed() and text in element.text:
                    return element
        except StaleElementReferenceException:
            return False
        return False

    try:
        element: WebElement = WebDriverWait(driver, timeout).until(found)
    except Exception as exc:
        raise AssertionError(
            f"no visible {css!r} containing {text!r}; the page says:\n{page_text(driver)}"
        ) from exc
    return element


def button(driver: WebDriver, text: str, within: str = "") -> WebElement:
    """A visible, enabled button whose text is ``text``; inside the open dialog if one is
    open (the page behind a modal cannot be clicked)."""

    def found(d: WebDriver) -> WebElement | bool:
        scope = within or (
            "dialog[open]" if d.find_elements(By.CSS_SELECTOR, "dialog[open]") else ""
        )
        try:
            for element in d.find_elements(By.CSS_SELECTOR, f"{scope} button".strip()):
                if element.is_displayed() and element.text.strip() == text and element.is_enabled():
                    return element
        except StaleElementReferenceException:
            return False
        return False

    try:
        element: WebElement = WebDriverWait(driver, TIMEOUT).until(found)
    except Exception as exc:
        raise AssertionError(f"no enabled button {text!r}:\n{page_text(driver)}") from exc
    return element


def click(driver: WebDriver, text: str, within: str = "") -> None:
    button(driver, text, within).click()


def field(driver: WebDriver, label: str) -> WebElement:
    """The form control labelled ``label`` (by its <label for>): labels are the contract."""
    wait_for(driver, "label", label)
    for element in driver.find_elements(By.CSS_SELECTOR, "label"):
        if element.is_displayed() and element.text.strip() == label:
            target = element.get_attribute("for")
            return driver.find_element(By.ID, target or "")
    raise AssertionError(f"no label {label!r}:\n{page_text(driver)}")


def fill(driver: WebDriver, label: str, value: str) -> None:
    """Replace the text of a field as a user would (select all, then type), so the page's
    input handlers see every change."""
    element = field(driver, label)
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    if value:
        element.send_keys(value)


def choose(driver: WebDriver, label: str, option_text: str) -> None:
    def has_option(d: WebDriver) -> bool:
        options = Select(field(d, label)).options
        return any(option_text in o.text for o in options)

    WebDriverWait(driver, TIMEOUT).until(has_option)
    select = Select(field(driver, label))
    for option in select.options:
        if option_text in option.text:
            select.select_by_visible_text(option.text)
            return


def until(driver: WebDriver, condition: object, message: str) -> None:
    try:
        WebDriverWait(driver, TIMEOUT).until(condition)  # type: ignore[arg-type]
    except Exception as exc:
        raise AssertionError(f"{message}; the page says:\n{page_text(driver)}") from exc


def page_text(driver: WebDriver) -> str:
    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)[:3000]
    except Exception:  # the page may be gone
        return "(no page)"


def shot(driver: WebDriver, artifacts: Path, name: str) -> None:
    """A full-page screenshot (the window grows to the page's height first)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 40, 4000)))
    driver.save_screenshot(str(artifacts / f"{name}.png"))
    driver.set_window_size(1280, 900)
