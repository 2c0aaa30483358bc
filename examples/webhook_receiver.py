"""A webhook receiver that accepts only deliveries signed with its endpoint's secret.

    pip install standardwebhooks          # the Standard Webhooks reference verifier
    WEBHOOK_SECRET=whsec_… python3 examples/webhook_receiver.py   # listens on 127.0.0.1:9000

Every delivery carries `webhook-id` (the event id: deduplicate on it, a delivery can come
twice), `webhook-timestamp`, `webhook-signature` and `WorkOS-Signature`. Either signature will
do; with the official WorkOS SDK instead:
    WorkOSClient(...).webhooks.verify_event(event_body=body,
        event_signature=headers["WorkOS-Signature"], secret=os.environ["WEBHOOK_SECRET"])
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook

webhook = Webhook(os.environ["WEBHOOK_SECRET"])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = webhook.verify(body, dict(self.headers))
        except Exception as error:  # a wrong signature, or a timestamp too old or too new
            print("rejected:", error, flush=True)
            self.send_response(400)
            self.end_headers()
            return
        print(event["id"], event["event"], event["data"].get("id"), flush=True)
        self.send_response(204)  # any 2xx; a 410 tells dsync to disable the endpoint
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Receiver).serve_forever()
