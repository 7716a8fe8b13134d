from tests.support.browser import browser_context

__all__ = ["browser_context"]
