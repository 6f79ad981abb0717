# Sourced by the benchmarks that measure against Docker: starts a dockerd of their own in a
# network namespace of its own (its bridge and iptables rules stay in there) with state under
# $work, and stops it again, unmounting what its containerd left behind.
#   dockerd_start WORK NETNS   -> sets DOCKERD_SOCK (empty when dockerd is not installed)
#   dockerd_stop               -> idempotent; call it from the benchmark's cleanup
DOCKERD_SOCK="" DOCKERD_PID="" DOCKERD_NETNS="" DOCKERD_WORK=""
dockerd_start() {
  DOCKERD_WORK=$1 DOCKERD_NETNS=$2
  command -v dockerd >/dev/null || return 0
  ip netns add "$DOCKERD_NETNS" && ip netns exec "$DOCKERD_NETNS" ip link set lo up
  nsenter --net=/run/netns/"$DOCKERD_NETNS" dockerd --data-root "$DOCKERD_WORK/dockerd-root" \
    --exec-root "$DOCKERD_WORK/dockerd-exec" -H "unix://$DOCKERD_WORK/dockerd.sock" \
    --pidfile "$DOCKERD_WORK/dockerd.pid" >"$DOCKERD_WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 200); do
    [ -S "$DOCKERD_WORK/dockerd.sock" ] && DOCKER_HOST=unix://$DOCKERD_WORK/dockerd.sock docker version >/dev/null 2>&1 && break
    sleep 0.1
  done
  DOCKERD_SOCK=$DOCKERD_WORK/dockerd.sock
}
dockerd_stop() {
  [ -n "$DOCKERD_PID" ] || return 0
  kill "$DOCKERD_PID" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$DOCKERD_PID" 2>/dev/null
  # What dockerd's containerd left mounted under its own directories.
  awk -v w="$DOCKERD_WORK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  ip netns del "$DOCKERD_NETNS" 2>/dev/null
  DOCKERD_PID=""
}
