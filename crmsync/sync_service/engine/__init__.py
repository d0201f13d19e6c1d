"""The sync engine: fetch a page from a connector, decide with mapping/, store it with its
cursor in one transaction, run the page hooks it was handed. It applies decisions and
never makes them, and imports no surface, trigger or hook."""
