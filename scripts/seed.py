"""Demo data on the running stack (`make run` in another terminal), through the public API.

Idempotent: accounts that already exist are left as they are.
"""

import os
import sys

import requests

BASE_URL = os.environ.get("API_URL", "http://127.0.0.1:8000/api/v1")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo password 2026")
ACCOUNTS = [
    {"email": "brand@demo.local", "role": "brand", "display_name": "Northwind Outdoor"},
    {"email": "creator@demo.local", "role": "creator", "display_name": "Ava Trails"},
]


def register(account: dict[str, str]) -> None:
    response = requests.post(
        f"{BASE_URL}/auth/register", json={**account, "password": DEMO_PASSWORD}, timeout=10
    )
    if response.status_code == 201:
        print(f"created {account['role']} {account['email']}")
    elif response.status_code == 409:
        print(f"exists  {account['role']} {account['email']}")
    else:
        sys.exit(f"seeding {account['email']} failed: {response.status_code} {response.text}")


def main() -> None:
    try:
        requests.get(f"{BASE_URL}/openapi.json", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        sys.exit(f"the stack is not answering at {BASE_URL} ({exc}); start it with `make run`")
    for account in ACCOUNTS:
        register(account)
    print(f"demo password for every account: {DEMO_PASSWORD!r}")


if __name__ == "__main__":
    main()
