"""Several bridge workers behind HAProxy, started with one command:

    uv run python -m addons.cluster --workers N [mitmdump options: --set bridge_config=..., -p PORT, --listen-host HOST]

`__main__`  the command line: which options are the cluster's, which go to every worker; the start-up summary
`haproxy`   finding HAProxy, its generated config (health checks, timeouts, routing) and its process
`workers`   the `mitmdump -s addons/bridge.py` workers on loopback ports: started, watched, restarted
`drain`     SIGTERM / Ctrl-C: HAProxy stops accepting, running streams finish (bounded), then the workers stop

The single-process `mitmdump -s addons/bridge.py` is unchanged; this package only starts it N times.
"""
