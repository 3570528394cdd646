"""Alert destinations: NDJSON file, HTTP with a disk spool, CEF over syslog, OCSF, terminal."""

from __future__ import annotations

from monitor.sinks.cef import CefSyslogSink, to_cef
from monitor.sinks.http import HttpSink, SinkCredentials
from monitor.sinks.ndjson import NdjsonSink
from monitor.sinks.ocsf import OcsfSink, to_ocsf

__all__ = ["CefSyslogSink", "HttpSink", "NdjsonSink", "OcsfSink", "SinkCredentials", "to_cef",
           "to_ocsf"]
