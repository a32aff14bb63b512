"""Identity: users, roles, permissions and API keys."""
