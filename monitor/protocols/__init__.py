"""Small application-protocol parsers for the packets a detector needs.

Each parser takes the transport payload and returns our own dataclass, or None when the bytes
are not that protocol; none raises on malformed input. They are faster than scapy's
dissectors for the few fields we read, and the tests build their inputs with scapy so the two
must agree.
"""
