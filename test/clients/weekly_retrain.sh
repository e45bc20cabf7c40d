#!/bin/bash
# weekly_retrain.sh - Run weekly retraining
# The NordIQ daemon documentation's cron script ("Option 1: Cron Job"), unchanged but for where the
# key and the daemon are: NORDIQ_KEY_FILE and DAEMON_URL come from the environment.

API_KEY=$(cat "$NORDIQ_KEY_FILE")
DAEMON_URL="$DAEMON_URL"

echo "[$(date)] Starting weekly retraining..."

# Check if ready
STATS=$(curl -s -H "X-API-Key: $API_KEY" $DAEMON_URL/admin/training-stats)
READY=$(echo $STATS | jq -r '.ready_to_train')

if [ "$READY" != "true" ]; then
    REASON=$(echo $STATS | jq -r '.ready_reason')
    echo "[$(date)] Not ready to train: $REASON"
    exit 1
fi

# Trigger training
RESPONSE=$(curl -s -X POST -H "X-API-Key: $API_KEY" \
  "$DAEMON_URL/admin/trigger-training?epochs=5&incremental=true")

SUCCESS=$(echo $RESPONSE | jq -r '.success')

if [ "$SUCCESS" == "true" ]; then
    JOB_ID=$(echo $RESPONSE | jq -r '.job_id')
    echo "[$(date)] Training started: $JOB_ID"
else
    ERROR=$(echo $RESPONSE | jq -r '.error')
    echo "[$(date)] Training failed to start: $ERROR"
    exit 1
fi

echo "[$(date)] Weekly retraining complete!"
