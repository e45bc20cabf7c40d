#!/bin/bash
# Step 3 and 4 of the documentation's "Manual Retraining": poll the current job until it is no longer
# running, then check the result and the loaded model. API_KEY and DAEMON_URL come from the
# environment; the documentation polls every 10 s, POLL_SECONDS shortens that for tests.

# 3. Monitor progress
while true; do
  STATUS=$(curl -s -H "X-API-Key: $API_KEY" \
    $DAEMON_URL/admin/training-status)

  PROGRESS=$(echo $STATUS | jq -r '.progress_pct')
  STATUS_VAL=$(echo $STATUS | jq -r '.status')

  echo "Status: $STATUS_VAL | Progress: $PROGRESS%"

  if [ "$STATUS_VAL" != "running" ]; then
    break
  fi

  sleep ${POLL_SECONDS:-10}
done

# 4. Check result
curl -s -H "X-API-Key: $API_KEY" $DAEMON_URL/admin/training-status
echo

# 5. Verify new model is loaded
curl -s -H "X-API-Key: $API_KEY" $DAEMON_URL/admin/model-info
echo
