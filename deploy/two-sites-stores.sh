# The store servers of deploy/two-sites.sh (sourced by it; uses its start, wait_for, $run,
# $base and $here). start_<store>_store starts them and sets:
#   store_toml     the nodes' [store] tables
#   store_summary  one line on where the servers are
#   store_howto    how to fail them, for the demo's closing words

# Redis primary + replica + three Sentinels; the nodes WAIT for the replica.
start_redis_store() {
    local primary=$((base + 379)) replica=$((base + 380))
    local sentinels=($((base + 381)) $((base + 382)) $((base + 383)))
    # redis PORT CONFIG_FILE|"" ARGS...: a redis-server (a Sentinel's config file must come
    # first: Sentinel rewrites it).
    redis() {
        local port="$1" config="$2"
        shift 2
        mkdir -p "$run/redis-$port"
        start "redis-$port" "$run/redis-$port.log" redis-server ${config:+"$config"} \
            --port "$port" --bind 127.0.0.1 --dir "$run/redis-$port" --appendonly yes \
            --appendfsync everysec --save "" "$@"
        wait_for "redis on $port" redis-cli -p "$port" ping
    }
    redis "$primary" ""
    redis "$replica" "" --replicaof 127.0.0.1 "$primary"
    # The nodes WAIT for one replica before acknowledging: start them once it is in sync.
    replica_in_sync() { redis-cli -p "$replica" info replication | grep -q 'master_link_status:up'; }
    wait_for "the replica's sync" replica_in_sync
    local port
    for port in "${sentinels[@]}"; do
        printf 'sentinel monitor smsgw 127.0.0.1 %s 2\nsentinel down-after-milliseconds smsgw 5000\nsentinel failover-timeout smsgw 30000\n' \
            "$primary" >"$run/sentinel-$port.conf"
        redis "$port" "$run/sentinel-$port.conf" --sentinel
    done
    local sentinel_list
    sentinel_list=$(printf '"127.0.0.1:%s", ' "${sentinels[@]}")
    store_toml="[store]
kind = \"redis\"

[store.redis]
sentinels = [${sentinel_list%, }]
master_name = \"smsgw\"
wait_replicas = 1
key_prefix = \"demo:\""
    store_summary="Redis primary 127.0.0.1:$primary, replica :$replica, Sentinels :${sentinels[0]} :${sentinels[1]} :${sentinels[2]} (master \"smsgw\")"
    store_howto="Fail the Redis primary over: redis-cli -p $primary debug sleep 30   (or kill it; the Sentinels promote the replica)"
}

# A CA and one certificate for the three NATS servers (127.0.0.1), for clients and routes.
make_nats_certificates() {
    local dir="$run/pki"
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj /CN=smsgw-demo-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout "$dir/store.key" -out "$dir/store.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
        >"$dir/store.ext"
    openssl x509 -req -in "$dir/store.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 30 -extfile "$dir/store.ext" -out "$dir/store.pem" 2>/dev/null
}

# Three nats-server, one per site (A, B and the tie-breaker C), from deploy/nats-server.conf.
start_nats_store() {
    make_nats_certificates
    local store_password="store-$RANDOM$RANDOM" route_password="route-$RANDOM$RANDOM"
    local sites=(A B C) clients=($((base + 422)) $((base + 423)) $((base + 424)))
    local route_ports=($((base + 622)) $((base + 623)) $((base + 624)))
    local routes="" i
    for i in 0 1 2; do
        routes+="        \"nats-route://route:$route_password@127.0.0.1:${route_ports[$i]}\"\n"
    done
    for i in 0 1 2; do
        local site="${sites[$i]}"
        local config="$run/nats-$site.conf"
        mkdir -p "$run/nats-$site"
        awk -v name="site-$site" -v site="$site" -v client="127.0.0.1:${clients[$i]}" \
            -v route="127.0.0.1:${route_ports[$i]}" -v dir="$run/nats-$site" \
            -v pki="$run/pki" -v store_pw="$store_password" -v route_pw="$route_password" \
            -v routes="$routes" '
            /^#/ { next }
            /@ROUTES@/ { printf "%s", routes; next }
            {
                gsub("@NAME@", name); gsub("@SITE@", site); gsub("@CLIENT_LISTEN@", client)
                gsub("@ROUTE_LISTEN@", route); gsub("@STORE_DIR@", dir)
                gsub("@CERT@", pki "/store.pem"); gsub("@KEY@", pki "/store.key")
                gsub("@CA@", pki "/ca.pem"); gsub("@STORE_PASSWORD@", store_pw)
                gsub("@ROUTE_PASSWORD@", route_pw)
                print
            }' "$here/nats-server.conf" >"$config"
        "$nats_server" -t -c "$config" >/dev/null 2>&1 || {
            echo "nats-server refuses $config:" >&2
            "$nats_server" -t -c "$config" >&2
            return 1
        }
        start "nats-$site" "$run/nats-$site.log" "$nats_server" -c "$config"
    done
    for i in 0 1 2; do
        wait_for "nats-server of site ${sites[$i]}" grep -q "Server is ready" \
            "$run/nats-${sites[$i]}.log"
    done
    local server_list
    server_list=$(printf '"tls://127.0.0.1:%s", ' "${clients[@]}")
    store_toml="[store]
kind = \"nats\"

[store.nats]
servers = [${server_list%, }]
namespace = \"demo\"
replicas = 3
user = \"smsgw\"
password_env = \"SMSGW_DEMO_STORE_PASSWORD\"
tls_ca = \"$run/pki/ca.pem\""
    export SMSGW_DEMO_STORE_PASSWORD="$store_password"
    store_summary="NATS JetStream: site A 127.0.0.1:${clients[0]}, site B :${clients[1]}, tie-breaker site C :${clients[2]} (TLS; CA $run/pki/ca.pem)"
    store_howto="Lose site A's store server (the others go on): kill -9 \$(awk '\$2 == \"nats-A\" {print \$1}' $run/pids)"
}
