"""Counts visits in redis and records each in postgres; both reached by service name."""
import psycopg2
import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(host="redis", port=6379)


@app.route("/healthz")
def healthz():
    return "ok\n"


@app.route("/")
def index():
    hits = cache.incr("hits")
    # A new connection per request: the name "db" is resolved every time.
    with psycopg2.connect(host="db", user="postgres", dbname="postgres") as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS visits (n int)")
            cur.execute("INSERT INTO visits VALUES (%s)", (hits,))
            cur.execute("SELECT count(*) FROM visits")
            rows = cur.fetchone()[0]
    return f"hits={hits} rows={rows}\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
