#!/bin/sh
# notify_master of the classic guide: this node became MASTER, so point the cloud's
# elastic IP at it. Fill in your own allocation and instance ids; needs the aws CLI and
# an instance role allowed to call ec2:AssociateAddress.
set -eu
ALLOCATION_ID="eipalloc-REPLACE_ME"
INSTANCE_ID=$(cat /var/lib/cloud/data/instance-id 2>/dev/null || echo "i-REPLACE_ME")
exec aws ec2 associate-address --allocation-id "$ALLOCATION_ID" \
    --instance-id "$INSTANCE_ID" --allow-reassociation
