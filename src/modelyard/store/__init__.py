"""Stores: where entities are kept. SQLAlchemy is imported only under ``store/sql``."""
