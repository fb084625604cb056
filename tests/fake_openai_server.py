#!/usr/bin/env python3
"""fake_openai_server.py — a scripted OpenAI-compatible server for the chat
client's end-to-end test (tests/e2e_remote.sh), on 127.0.0.1 only.

  fake_openai_server.py --flavor huginn|plain [--log FILE] [--parent PID] [--lifetime S]

Binds port 0 and prints the port on the first line of stdout.  It follows the
wire contract of `huginn serve` (README, "The chat as a client"):

  GET  /v1/models             the model list; a huginn flavour adds
                              "huginn": {"num_steps_default", "max_steps"}
  POST /v1/chat/completions   streamed as server-sent events (chunked)

huginn flavour: every token chunk carries "huginn": {token_id, steps, exit,
num_steps}; progress comes before each token, alternately as data chunks
{"object":"huginn.progress",...} and as SSE comment lines; one token is an
incomplete UTF-8 sequence (content ""), completed by the next.  plain
flavour (vLLM-like): no huginn objects, CRLF line ends, usage in a last
chunk with no choices when stream_options.include_usage is set.

The last user message picks a scenario: "[500]" a 500 with an error object,
"[401]" a 401, "[cut]" the connection closed mid-stream, "[badjson]" a
malformed chunk, "[slow]" a long slow reply (for Ctrl-C); anything else the
normal reply.  Every request is logged as one JSON line (path, the
Authorization header, the body) to --log.  The server lives as long as the
test that started it: it exits once process --parent PID (the test script) is
gone or it is no longer that process's child, and in any case after the safety
cap of --lifetime seconds (default 900); the test's EXIT trap kills it first.
"""
import argparse
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--flavor", choices=["huginn", "plain"], required=True)
ap.add_argument("--log", default=None)
ap.add_argument("--parent", type=int, default=0)
ap.add_argument("--lifetime", type=float, default=900)
args = ap.parse_args()
HUGINN = args.flavor == "huginn"
MODEL = "fake-huginn" if HUGINN else "tomg-group-umd/huginn-0125"
log_lock = threading.Lock()

# the normal reply: (content, token id, steps); "" + the next piece make one character
HUGINN_REPLY = [("Ravens", 4101, 3), (" are", 4102, 7), (" clever", 4103, 12), (" birds", 4104, 5),
                ("", 4105, 9), ("\u9ed2.", 4106, 1)]
PLAIN_REPLY = ["Hello", " from", " a", " plain", " server", "."]


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # every chunk at once

    def log_req(self, body):
        if not args.log:
            return
        with log_lock, open(args.log, "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body}) + "\n")

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        self.log_req(None)
        if self.path == "/v1/models":
            m = {"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}
            if HUGINN:
                m["huginn"] = {"num_steps_default": 32, "max_steps": 128}
            self.send_json(200, {"object": "list", "data": [m]})
        else:
            self.send_json(404, {"error": {"message": "no such path", "type": "not_found"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n) if 0 < n <= 1 << 20 else b""
        try:
            body = json.loads(raw)
        except ValueError:
            self.log_req(None)
            return self.send_json(400, {"error": {"message": "malformed JSON", "type": "invalid_request_error"}})
        self.log_req(body)
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"error": {"message": "no such path"}})
        msgs = body.get("messages") or [{}]
        last = str(msgs[-1].get("content", ""))
        if "[500]" in last:
            return self.send_json(500, {"error": {"message": "the model fell over", "type": "server_error"}})
        if "[401]" in last:
            return self.send_json(401, {"error": {"message": "invalid api key", "type": "invalid_request_error"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        eol = "\n" if HUGINN else "\r\n"
        cid = "chatcmpl-fake"

        def data(obj):
            self.chunk("data: " + json.dumps(obj) + eol + eol)

        def delta(d, finish=None, extra=None):
            o = {"id": cid, "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                 "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]}
            if extra:
                o.update(extra)
            data(o)

        try:
            self.chunk(": keep-alive" + eol + "retry: 1000" + eol + eol)
            delta({"role": "assistant", "content": ""})
            budget = int(body.get("num_steps", 32)) if HUGINN else None
            if "[slow]" in last:
                pieces = [(" caw", 5000 + i, 1 + i % budget if HUGINN else 0) for i in range(400)]
                pause = 0.1
            elif HUGINN:
                pieces = HUGINN_REPLY
                pause = 0.04
            else:
                pieces = [(p, 0, 0) for p in PLAIN_REPLY]
                pause = 0.04
            steps_sum = 0
            for i, (text, tid, steps) in enumerate(pieces):
                if "[cut]" in last and i == 2:
                    self.wfile.flush()
                    self.connection.shutdown(2)   # no terminating chunk: the body is cut
                    self.close_connection = True
                    return
                if "[badjson]" in last and i == 3:
                    self.chunk("data: {\"choices\": [{\"delta\": {\"content\": \"oops\"" + eol + eol)
                if HUGINN:
                    steps = min(steps, budget)
                    for k in range(1, steps + 1):
                        exit_v = None if k == 1 else round(0.5 / (k * k), 6)
                        prog = {"step": k, "num_steps": budget, "exit": exit_v}
                        if i % 2 == 0:
                            data({"object": "huginn.progress", "huginn": prog})
                        else:
                            self.chunk(": " + json.dumps({"huginn": prog}) + eol)
                    steps_sum += steps
                    time.sleep(pause)
                    delta({"content": text}, extra={"huginn": {"token_id": tid, "steps": steps,
                                                              "exit": round(0.5 / (steps * steps), 6) if steps > 1 else None,
                                                              "num_steps": budget}})
                else:
                    time.sleep(pause)
                    self.chunk("id: %d%s" % (i, eol))   # an id: field before the data, ignored
                    delta({"content": text})
            ntok = len(pieces)
            usage = {"prompt_tokens": 17, "completion_tokens": ntok, "total_tokens": 17 + ntok}
            if HUGINN:
                usage["mean_steps"] = steps_sum / ntok
                delta({}, "stop", {"usage": usage})
            else:
                delta({}, "stop")
                if (body.get("stream_options") or {}).get("include_usage"):
                    data({"id": cid, "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                          "choices": [], "usage": usage})
            self.chunk("data: [DONE]" + eol + eol)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True   # the client went away (Ctrl-C)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)


def watch():
    """Shut down when the test is gone (its EXIT trap did not run) or at the cap."""
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        if args.parent and os.getppid() != args.parent:
            break
        time.sleep(0.2)
    srv.shutdown()


threading.Thread(target=watch, daemon=True).start()
srv.serve_forever()
