# hostile: an endless loop that ignores every signal it can.
import signal

for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP):
    signal.signal(_sig, signal.SIG_IGN)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    while True:
        pass
