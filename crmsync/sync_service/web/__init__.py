"""The Flask app and its surfaces: the ``/api/v1`` JSON API, the admin console, the task
pane's hosting, the calendar feed, Graph webhooks and sign-in (API keys, Outlook tokens)."""
