"""The HTTP server the download tests talk to: on 127.0.0.1 only, never another address."""

import functools
import http.server
import threading
import types

import pytest


@pytest.fixture()
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1 and records the paths asked for; /cut/PATH announces the file's size but
    sends half of it, then closes the connection; /big/PATH announces 1000 bytes more than the file."""
    www = tmp_path / "www"
    www.mkdir()
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            if self.path.startswith(("/cut/", "/big/")):
                data = (www / self.path[5:]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data) + (1000 if self.path.startswith("/big/") else 0)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield types.SimpleNamespace(www=www, base=f"http://127.0.0.1:{httpd.server_address[1]}", hits=hits)
    httpd.shutdown()
    httpd.server_close()
