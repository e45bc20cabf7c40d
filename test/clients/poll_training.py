"""The NordIQ daemon documentation's "Poll for Progress" client, with the standard library only
(urllib instead of requests). DAEMON_URL, API_KEY, EPOCHS and POLL_SECONDS come from the environment;
CANCEL_AFTER_RUNNING=1 cancels the job once it runs, as an operator would."""
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

DAEMON_URL = os.environ["DAEMON_URL"]
API_KEY = os.environ["API_KEY"]
headers = {"X-API-Key": API_KEY}


def call(method, path, params=None):
    url = f"{DAEMON_URL}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # the daemon answers errors with a JSON body too
        return json.load(error)


# Trigger training
response = call("POST", "/admin/trigger-training", {"epochs": os.environ.get("EPOCHS", "10")})
if not response["success"]:
    print(f"Training failed to start: {response['error']}")
    raise SystemExit(1)
job_id = response["job_id"]
print(f"Training started: {job_id}")

# Poll until complete
cancelled = False
while True:
    status = call("GET", "/admin/training-status", {"job_id": job_id})

    print(f"Status: {status['status']} | Progress: {status['progress_pct']}%")

    if status["status"] in ["completed", "failed", "cancelled"]:
        break

    if os.environ.get("CANCEL_AFTER_RUNNING") == "1" and status["status"] == "running" and not cancelled:
        answer = call("POST", "/admin/cancel-training")
        print(f"Cancel: {answer['success']} {answer.get('message') or answer.get('error')} {answer.get('job_id')}")
        cancelled = True

    time.sleep(float(os.environ.get("POLL_SECONDS", "10")))

# Check result
if status["status"] == "completed":
    print("Training successful!")
    print(f"   Model: {status['model_path']}")
    print(f"   Duration: {status['duration_seconds']}s")
else:
    print(f"Training {status['status']}: {status['error']}")
print(json.dumps(status))
