"""The shared cache's Redis backend (see CACHES in config/settings/base.py)."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache


class RedisCache(DjangoRedisCache):
    """Django's Redis cache whose clear() deletes only this cache's keys (those under its KEY_PREFIX), not the
    whole Redis database: by default the cache lives in the database of Celery's broker, whose queues a FLUSHDB
    would drop."""

    def clear(self):
        client = self._cache.get_client(None, write=True)
        batch = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
        return True
