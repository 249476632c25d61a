{
  "targets": [
    {
      "target_name": "udp_relay",
      "sources": ["native/udp_relay.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["native/udp_relay.c"]}]]
    }
  ]
}
