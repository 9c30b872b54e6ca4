#!/bin/sh
# test_cli_agents.sh - the agent and preset forms of adminctl in direct mode, end to end, as TAP:
#   agent heartbeat ID --addr HOST:PORT [--region R] [--arch A] [--version V] --available SLOTS
#         [--group G] [--images NAME,...]
#   agent terminate ID, agent set-schedulable ID true|false, agent list [--terminated] [--json],
#   agent get ID, agent expire
#   preset create NAME --cpu N --mem SIZE [--gpu N] [--fgpu N] [--shmem SIZE], preset update,
#   preset delete, preset get, preset list [--json], preset check --group G [--keypair AK]
#   export agents|presets --out FILE
# A heartbeat needs a resource group, which the rgroups module provides; until it is merged
# (no `rgroup create`), only the forms that need no agent run. LOST needs the in-memory
# heartbeat times of one process, so it is tested in tests/test_agents.c (each adminctl run is a
# new process: agent expire then only starts the restart grace).
. "$(dirname "$0")/tap.sh"

init_store
A() { run "$AC" --data "$D" "$@"; }

# ---- presets ------------------------------------------------------------------------------------
A preset create cpu02-medium --cpu 4 --mem 8g --shmem 1g --json
check "preset create NAME --cpu --mem --shmem" rc_is 0
check "the slots: cpu and mem in bytes; shared memory" jq_ok '.resource_slots == {"cpu":4,"mem":8589934592} and .shared_memory == 1073741824'
A preset create cuda01-small --cpu 1 --mem 4g --gpu 1 --fgpu 0.5 --json
check "preset create with --gpu and --fgpu" rc_is 0
check "gpu is cuda.device, fgpu cuda.shares" jq_ok '.resource_slots == {"cpu":1,"cuda.device":1,"cuda.shares":0.5,"mem":4294967296}'
A preset create cuda01-small --cpu 1 --mem 4g
check "a taken name is refused" refused already_exists
A preset create big --cpu 2 --mem 1g --shmem 2g
check "shmem above mem is refused" sh -c "[ $rc -eq 1 ] && grep -q 'shmem:' '$T/err'"
A preset create big --cpu 0 --mem 1g
check "cpu 0 is refused, naming cpu" sh -c "[ $rc -eq 1 ] && grep -q 'invalid_argument: cpu:' '$T/err'"
A preset create big --cpu 1 --mem lots
check "a bad size is refused, naming mem" sh -c "[ $rc -eq 1 ] && grep -q 'invalid_argument: mem:' '$T/err'"
A preset create big --mem 1g
check "cpu is required" refused invalid_argument
A preset update cpu02-medium --cpu 8 --json
check "preset update NAME --cpu" sh -c "[ $rc -eq 0 ]"
check "update keeps what it does not name" jq_ok '.resource_slots == {"cpu":8,"mem":8589934592} and .shared_memory == 1073741824'
before=$(head_seq)
A preset update cpu02-medium --cpu 8
check "an update that changes nothing appends nothing" sh -c "[ $rc -eq 0 ] && [ $(head_seq) -eq $before ]"
A preset get cuda01-small --json
check "preset get NAME" jq_ok '.name == "cuda01-small" and .version == 1'
A preset list --json
check "preset list --json, by name" jq_ok '[.[].name] == ["cpu02-medium","cuda01-small"]'
A preset delete cpu02-medium
check "preset delete NAME" rc_is 0
A preset get cpu02-medium
check "a deleted preset is gone" refused not_found
A export presets --out "$T/presets.csv"
check "export presets --out FILE" sh -c "[ $rc -eq 0 ] && head -n 1 '$T/presets.csv' | grep -q '^name,resource_slots,shared_memory' && grep -q '^cuda01-small,' '$T/presets.csv'"

printf '%s\n' 'Passw0rd!' >"$T/pw"
runi "$T/pw" "$AC" --data "$D" user create --email u@example.com --username u --password-stdin
check "a plain user" rc_is 0
A --as u@example.com preset list --json
check "a user may list presets" jq_ok 'length == 1'
A --as u@example.com preset create mine --cpu 1 --mem 1g
check "a user may not create presets" refused permission_denied
A --as u@example.com agent list
check "a user may not list agents" refused permission_denied

# ---- agents, the forms that need no agent ------------------------------------------------------------
A agent list --json
check "agent list with no agents is []" sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$T/out')\" = '[]' ]"
A agent get ghost
check "agent get of an unknown id" refused not_found
A agent set-schedulable ghost true
check "agent set-schedulable ID true reaches the agent lookup" refused not_found
A agent set-schedulable ghost maybe
check "agent set-schedulable ID maybe is a usage error" usage_err
A agent terminate ghost
check "agent terminate of an unknown id" refused not_found
A agent heartbeat ag1 --addr 10.0.0.1 --available cpu=8,mem=32g
check "a heartbeat without a port is refused, naming addr" sh -c "[ $rc -eq 1 ] && grep -q 'invalid_argument: addr:' '$T/err'"
A agent heartbeat ag1 --addr 10.0.0.1:6001 --available cpu=8
check "a heartbeat without mem is refused, naming available" sh -c "[ $rc -eq 1 ] && grep -q 'invalid_argument: available:' '$T/err'"
A agent heartbeat ag1 --addr 10.0.0.1:6001 --available cpu=8,mem=32g --images python:3
check "a heartbeat with a non-canonical image is refused, naming images" sh -c "[ $rc -eq 1 ] && grep -q 'invalid_argument: images:' '$T/err'"
before=$(head_seq)
A agent expire --json
check "agent expire with no agents loses none" sh -c "[ $rc -eq 0 ] && [ $(head_seq) -eq $before ]"
check "agent expire answers lost and timeout" jq_ok '.lost == [] and .timeout == 40'
A export agents --out "$T/agents.csv"
check "export agents --out FILE" sh -c "[ $rc -eq 0 ] && head -n 1 '$T/agents.csv' | grep -q '^id,status,schedulable,scaling_group'"

# ---- agents (need resource groups) ---------------------------------------------------------------------
A rgroup create --help
if [ "$rc" -ne 0 ]; then
	echo "# resource groups are not built in this tree (no rgroup create): the heartbeat forms were not run"
	tap_done
fi

A agent heartbeat i-ag1 --addr 10.0.0.1:6001 --region eu-1 --arch x86_64 --version 24.03.1 \
	--available cpu=8,mem=32g,cuda.device=2 --group default --images cr.io/lab/python:3.9 --json
check "agent heartbeat ID --addr --region --arch --version --available --group --images" rc_is 0
A agent get i-ag1 --json
check "agent get ID" rc_is 0
check "get has id, status, schedulable, available, occupied" \
	jq_ok '.id == "i-ag1" and .status == "ALIVE" and .schedulable == true and .available == {"cpu":8,"cuda.device":2,"mem":34359738368} and .occupied == {"cpu":0,"cuda.device":0,"mem":0}'
check "free is available - occupied" jq_ok '.free == .available'
check "the reported fields" jq_ok '.addr == "10.0.0.1:6001" and .region == "eu-1" and .agent_version == "24.03.1" and .scaling_group == "default" and .images == ["cr.io/lab/python:3.9"]'
before=$(head_seq)
A agent heartbeat i-ag1 --addr 10.0.0.1:6001 --region eu-1 --arch x86_64 --version 24.03.1 \
	--available cpu=8,mem=32g,cuda.device=2 --group default --images cr.io/lab/python:3.9
check "a heartbeat that changes nothing appends nothing" sh -c "[ $rc -eq 0 ] && [ $(head_seq) -eq $before ]"
A agent heartbeat i-ag1 --addr 10.0.0.2:6001 --available cpu=8,mem=32g,cuda.device=2
check "a new address appends one event" sh -c "[ $rc -eq 0 ] && [ $(head_seq) -eq $((before + 1)) ]"
A agent heartbeat i-ag2 --addr node2.example.com:6001 --available cpu=4,mem=8g
A agent set-schedulable i-ag1 false --json
check "agent set-schedulable ID false" jq_ok '.schedulable == false and .status == "ALIVE"'
A agent terminate i-ag2 --json
check "agent terminate ID" jq_ok '.status == "TERMINATED"'
A agent list --json
check "agent list: the connected agents" jq_ok '[.[].id] == ["i-ag1"]'
A agent list --terminated --json
check "agent list --terminated" jq_ok '[.[].id] == ["i-ag2"]'
A agent heartbeat i-ag2 --addr node2.example.com:6001 --available cpu=4,mem=8g --json
check "a terminated agent that beats again is ALIVE" jq_ok '.status == "ALIVE"'

A preset create small --cpu 2 --mem 4g
A preset check --group default --json
check "preset check --group G: one object per preset with name and allocatable" \
	jq_ok '. == [{"name":"cuda01-small","allocatable":false,"resource_slots":{"cpu":1,"cuda.device":1,"cuda.shares":0.5,"mem":4294967296},"shared_memory":0},{"name":"small","allocatable":true,"resource_slots":{"cpu":2,"mem":4294967296},"shared_memory":0}]'
A agent set-schedulable i-ag1 true
A agent heartbeat i-ag1 --addr 10.0.0.2:6001 --available cpu=8,mem=32g,cuda.device=2,cuda.shares=1
A preset check --group default --json
check "a schedulable agent with GPUs fits the GPU preset" jq_ok '[.[].allocatable] == [true, true]'
ak=$("$AC" --data "$D" user get u@example.com --json | sed -n 's/.*"main_access_key":"\([^"]*\)".*/\1/p')
A policy create tiny --cpu 1 --ram-gb 1
A keypair update "$ak" --policy tiny
A preset check --group default --keypair "$ak" --json
check "preset check --keypair AK applies its policy" jq_ok '[.[].allocatable] == [false, false]'
A --as u@example.com preset check --group default --json
check "a user's check follows its own keypair" jq_ok '[.[].allocatable] == [false, false]'
A preset check --group nowhere
check "an unknown group is refused" refused invalid_argument
A export agents --out "$T/agents2.csv"
check "export agents lists the agents" sh -c "[ $rc -eq 0 ] && [ \$(grep -c . '$T/agents2.csv') -eq 3 ]"

tap_done
