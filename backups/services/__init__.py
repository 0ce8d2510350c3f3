"""The work of the app. Commands, views and tasks call these; they never call views."""
