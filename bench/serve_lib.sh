# Sourced by the bench scripts: start `rerankd serve` on a free port and stop it with a drain.
# Needs $rerankd (the binary; SERVER_BIN, if set, serves instead: an older build against the same
# client), $model, $out (a folder for serve.log); DTYPE picks the precision.
# start_server [extra serve flags...] sets $server (the pid) and $url.
start_server() {
  "${SERVER_BIN:-$rerankd}" serve --model "$model" --dtype "${DTYPE:-auto}" --port 0 "$@" > "$out/serve.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 600); do
    grep -q "listening on" "$out/serve.log" && break
    sleep 0.1
  done
  url=http://$(sed -n 's/^rerankd: listening on //p' "$out/serve.log" | head -1)
}

stop_server() {
  kill -TERM "$server"
  wait "$server" || true
  trap - EXIT
}
