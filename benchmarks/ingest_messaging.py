"""Messaging ingress throughput: Ceilometer's notifier:// publisher -> RabbitMQ -> listeners.

Ceilometer 27's own publisher (tests/support/ceilometer.py) fills the pool's queue
with notifications of 100 samples each (10 projects, a compute instance's resource
metadata; the meter messages made and signed beforehand by Ceilometer's
meter_message_from_counter, sent by its NotifierPublisher), many more than the
listeners may prefetch, while the listener processes (MeteringListener as heat-engine
runs it: batch listener, threading executor) hold their first batch; then they are
let go, and the time until every sample has been delivered (grouped per project, to
a counting deliver) gives samples/s.  The median over the rounds is printed as::

    RESULT ingest_listener_samples_per_s <median>

with the publisher's rate, the CPU seconds per 100,000 samples of the listeners
and of RabbitMQ, and one listener thread's handle() rate without the bus (signed
and unsigned) to show what limits the figure.  Runs in a RabbitMQ vhost of its own.

    python benchmarks/ingest_messaging.py [--notifications 1000] [--rounds 3]
        [--listeners 2] [--prefetch 100] [--batch-size 32] [--threads 2] [--no-secret]
        [--bus-only]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import progress, result  # noqa: E402

SECRET = "benchmark-telemetry-secret"
PER_NOTIFICATION = 100
PROJECTS = 10
#: resource metadata as Ceilometer's compute pollsters give an instance's samples
METADATA = {"display_name": "web-1", "name": "instance-0000002a", "host": "a1b2c3",
            "instance_id": "0a5c7e4e-4a1b-4f06-9c8e-2f6c3b1d9e77", "instance_type": "m1.small",
            "image_ref": "7d0e5c3b-9a7e-4d49-b8a6-3c2f1e0d9b88", "status": "active",
            "state": "running", "task_state": None, "os_type": "linux",
            "architecture": "x86_64", "vcpus": 1, "memory_mb": 2048, "disk_gb": 20,
            "root_gb": 20, "ephemeral_gb": 0,
            "flavor": {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20,
                       "ephemeral": 0, "swap": 0},
            "image": {"id": "7d0e5c3b-9a7e-4d49-b8a6-3c2f1e0d9b88"},
            "user_metadata": {"server_group": "group-1"}}


def _listen(url, topic, pool, secret, args, delivered, go, ready, stop):
    """One listener process: deliver counts samples once ``go`` is set."""
    from heat_alarming.resources.embedded import select_threading_backend
    select_threading_backend()  # as heat-engine does
    from heat_alarming.engine.listener import MeteringListener
    from heat_alarming.metering.sample import SampleValidator
    from tests.support import rabbit

    def deliver(project_id, samples, ids=()):
        go.wait()
        with delivered.get_lock():
            delivered.value += len(samples)

    class BusOnly(MeteringListener):
        """Takes the notifications off the bus and checks nothing: the bus's own cost."""

        def handle(self, payloads):
            deliver("any", [None] * sum(len(p) for p in payloads))
            return True

    transport = rabbit.notification_transport(url, rabbit_qos_prefetch_count=args.prefetch)
    kind = BusOnly if args.bus_only else MeteringListener
    listener = kind(transport, deliver, SampleValidator(3600, 300), topic=topic, pool=pool,
                    secret=secret, batch_size=args.batch_size,
                    batch_timeout=args.batch_timeout, threads=args.threads,
                    dedup_ids_per_project=args.notifications * PER_NOTIFICATION)
    listener.start()
    ready.release()
    stop.wait()
    listener.stop()
    transport.cleanup()


def _cpu(processes) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def _rabbit_processes():
    import psutil
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]


def _payloads(count: int, secret: str) -> list[list[dict]]:
    """``count`` notification payloads of meter messages made and signed by Ceilometer's
    own code (ceilometer.publisher.utils.meter_message_from_counter)."""
    from ceilometer.publisher import utils

    from tests.support.ceilometer import meter

    return [[utils.meter_message_from_counter(
        meter(f"project-{k % PROJECTS}", volume=float(k), resource_id=f"server-{n}-{k % 7}",
              metadata=METADATA), secret)
        for k in range(PER_NOTIFICATION)] for n in range(count)]


def _publish(publisher, payloads) -> float:
    """Send each payload as Ceilometer's notifier publisher does (its _send: one
    notification of priority sample); samples/s."""
    started = time.perf_counter()
    for payload in payloads:
        publisher.publisher._send(publisher.conf.publisher_notifier.metering_topic, payload)
    return len(payloads) * PER_NOTIFICATION / (time.perf_counter() - started)


def _handle_rate(secret: str | None) -> float:
    """One thread's MeteringListener.handle() on decoded payloads, without the bus."""
    from ceilometer.publisher import utils

    from heat_alarming.engine.listener import MeteringListener
    from heat_alarming.metering.sample import SampleValidator
    from tests.support.ceilometer import meter

    batches = [json.loads(json.dumps([
        utils.meter_message_from_counter(meter(f"project-{k % PROJECTS}", volume=float(k),
                                               metadata=METADATA), secret or "")
        for k in range(PER_NOTIFICATION)])) for _ in range(100)]
    listener = MeteringListener(None, lambda project, samples, ids: None,
                                SampleValidator(3600, 300), secret=secret,
                                dedup_ids_per_project=10 ** 6)
    started = time.perf_counter()
    for payload in batches:
        listener.handle([payload])
    return len(batches) * PER_NOTIFICATION / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--listeners", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-timeout", type=float, default=0.5)
    parser.add_argument("--no-secret", action="store_true")
    parser.add_argument("--bus-only", action="store_true",
                        help="listeners that check nothing (the bus's own cost)")
    args = parser.parse_args()

    from heat_alarming.resources.embedded import select_threading_backend
    select_threading_backend()
    import psutil

    from tests.support import rabbit
    from tests.support.ceilometer import CeilometerPublisher

    secret = None if args.no_secret else SECRET
    spawn = multiprocessing.get_context("spawn")
    with rabbit.temporary_vhost("ha-bench") as url:
        topic, pool = f"metering-{uuid.uuid4().hex[:6]}", "heat-alarming"
        delivered = spawn.Value("q", 0)
        go, stop, ready = spawn.Event(), spawn.Event(), spawn.Semaphore(0)
        children = [spawn.Process(target=_listen, daemon=True,
                                  args=(url, topic, pool, secret, args, delivered, go,
                                        ready, stop))
                    for _ in range(args.listeners)]
        for child in children:
            child.start()
        for _ in children:
            assert ready.acquire(timeout=120), "a listener did not start"
        rabbit.wait_for(lambda: (rabbit.queue_facts(url, pool) or (0,))[0] == len(children),
                        what="every listener consuming")
        publisher = CeilometerPublisher(url, topic, secret or "")
        listening = [psutil.Process(c.pid) for c in children]
        broker = _rabbit_processes()
        rates, publish_rates, listener_cpu, broker_cpu = [], [], [], []
        expected = 0
        for n in range(args.rounds):
            go.clear()
            payloads = _payloads(args.notifications, secret or "")
            publish_rates.append(_publish(publisher, payloads))
            expected += args.notifications * PER_NOTIFICATION
            cpu_listeners, cpu_broker = _cpu(listening), _cpu(broker)
            started = time.perf_counter()
            go.set()
            rabbit.wait_for(lambda e=expected: delivered.value >= e, deadline=600, interval=0.002,
                            what="every sample delivered")
            elapsed = time.perf_counter() - started
            samples = args.notifications * PER_NOTIFICATION
            rates.append(samples / elapsed)
            listener_cpu.append((_cpu(listening) - cpu_listeners) / samples * 1e5)
            broker_cpu.append((_cpu(broker) - cpu_broker) / samples * 1e5)
            progress(f"round {n + 1}: {samples} samples in {elapsed:.2f} s = "
                     f"{rates[-1]:,.0f}/s (published at {publish_rates[-1]:,.0f}/s); "
                     f"CPU s per 100k samples: listeners {listener_cpu[-1]:.2f}, "
                     f"RabbitMQ {broker_cpu[-1]:.2f}")
        publisher.close()
        stop.set()
        for child in children:
            child.join(timeout=60)
        assert delivered.value == expected, (delivered.value, expected)

    name = "ingest_bus_only" if args.bus_only else "ingest_listener"
    result(f"{name}_samples_per_s", statistics.median(rates), "{:.0f}")
    result("ingest_ceilometer_publish_samples_per_s", statistics.median(publish_rates),
           "{:.0f}")
    result(f"{name}_cpu_s_per_100k_samples", statistics.median(listener_cpu), "{:.2f}")
    result("ingest_rabbitmq_cpu_s_per_100k_samples", statistics.median(broker_cpu), "{:.2f}")
    result("ingest_handle_signed_samples_per_s", _handle_rate(SECRET), "{:.0f}")
    result("ingest_handle_unsigned_samples_per_s", _handle_rate(None), "{:.0f}")


if __name__ == "__main__":
    main()
