"""Vendor from the MAC's OUI: a small shipped table of common IoT and network vendors.

Locally administered MACs (bit 0x02 of the first octet: randomised or virtual) have no
vendor. The table is deliberately short; unknown OUIs give None.
"""

from __future__ import annotations

OUI_VENDORS: dict[str, str] = {
    "00:12:12": "Hikvision", "28:57:be": "Hikvision", "44:19:b6": "Hikvision",
    "4c:bd:8f": "Hikvision", "54:c4:15": "Hikvision", "bc:ad:28": "Hikvision",
    "c0:56:e3": "Hikvision", "e0:50:8b": "Zhejiang Dahua", "3c:ef:8c": "Zhejiang Dahua",
    "90:02:a9": "Zhejiang Dahua", "14:a7:8b": "Zhejiang Dahua", "a0:bd:1d": "Zhejiang Dahua",
    "00:40:8c": "Axis Communications", "ac:cc:8e": "Axis Communications",
    "b8:a4:4f": "Axis Communications", "00:80:f0": "Panasonic", "00:1a:07": "Arecont Vision",
    "b8:27:eb": "Raspberry Pi Foundation", "dc:a6:32": "Raspberry Pi Trading",
    "e4:5f:01": "Raspberry Pi Trading", "d8:3a:dd": "Raspberry Pi Trading",
    "24:0a:c4": "Espressif", "30:ae:a4": "Espressif", "84:cc:a8": "Espressif",
    "a4:cf:12": "Espressif", "bc:dd:c2": "Espressif", "cc:50:e3": "Espressif",
    "ec:fa:bc": "Espressif", "24:6f:28": "Espressif", "7c:9e:bd": "Espressif",
    "68:c6:3a": "Espressif", "5c:cf:7f": "Espressif", "18:fe:34": "Espressif",
    "00:17:88": "Philips Lighting (Signify)", "ec:b5:fa": "Philips Lighting (Signify)",
    "00:0b:57": "Silicon Labs", "84:2e:14": "Silicon Labs", "00:0d:6f": "Ember (Silicon Labs)",
    "d0:52:a8": "Physical Graph (SmartThings)", "28:6d:97": "SAMJIN (SmartThings)",
    "00:04:a3": "Microchip", "d8:80:39": "Microchip", "00:1e:c0": "Microchip",
    "00:80:e1": "STMicroelectronics", "00:26:b9": "Dell", "00:1b:21": "Intel",
    "3c:fd:fe": "Intel", "f4:f5:d8": "Google", "18:b4:30": "Nest Labs", "64:16:66": "Nest Labs",
    "44:65:0d": "Amazon", "fc:65:de": "Amazon", "00:0c:29": "VMware", "00:50:56": "VMware",
    "52:54:00": "QEMU/KVM", "00:1d:c1": "Audinate", "00:0e:c6": "ASIX",
    "00:60:35": "Dallas Semiconductor", "00:a0:45": "Phoenix Contact",
    "00:0e:8c": "Siemens", "00:1b:1b": "Siemens", "00:80:63": "Hirschmann",
    "00:00:bc": "Rockwell Automation", "00:1d:9c": "Rockwell Automation",
    "00:80:f4": "Telemecanique (Schneider Electric)", "00:00:54": "Schneider Electric",
    "00:07:7c": "Westermo", "00:30:de": "WAGO", "00:e0:4b": "Jump Industrielle",
    "00:13:a2": "Digi International", "00:40:9d": "Digi International",
    "00:14:2d": "Toradex", "70:b3:d5": "IEEE Registration Authority",
    "00:1f:a7": "Sony", "00:24:e4": "Withings", "c4:7c:8d": "Xiaomi (IEEE)",
    "28:6c:07": "Xiaomi", "34:ce:00": "Xiaomi", "64:09:80": "Xiaomi", "78:11:dc": "Xiaomi",
    "d4:f5:13": "Texas Instruments", "00:12:4b": "Texas Instruments",
    "b0:b4:48": "Texas Instruments", "00:0f:ea": "Giga-Byte", "00:e0:4c": "Realtek",
    "00:1c:c0": "Intel", "00:15:5d": "Microsoft Hyper-V", "00:17:f2": "Apple",
    "f0:9f:c2": "Ubiquiti", "24:a4:3c": "Ubiquiti", "74:83:c2": "Ubiquiti",
    "00:1d:0f": "TP-Link", "50:c7:bf": "TP-Link", "ac:84:c6": "TP-Link",
    "00:0f:66": "Cisco-Linksys", "00:1a:a0": "Dell", "00:18:0a": "Cisco Meraki",
    "00:1b:0d": "Cisco", "00:1e:bd": "Cisco", "00:25:9c": "Cisco-Linksys",
    "00:e0:fc": "Huawei", "00:18:82": "Huawei", "28:6e:d4": "Huawei", "48:46:fb": "Huawei",
    "00:1e:10": "Huawei", "00:25:68": "Huawei", "00:0a:eb": "TP-Link",
    "00:0c:43": "Ralink", "00:1f:1f": "Edimax", "00:50:c2": "IEEE Registration Authority",
}


def is_locally_administered(mac: str) -> bool:
    """True for locally administered (randomised/virtual) MACs."""
    try:
        return bool(int(mac[:2], 16) & 0x02)
    except ValueError:
        return False


def is_multicast(mac: str) -> bool:
    """True for multicast and broadcast MACs."""
    try:
        return bool(int(mac[:2], 16) & 0x01)
    except ValueError:
        return False


def vendor_for(mac: str) -> str | None:
    """The vendor of a universally administered MAC, if the shipped table knows it."""
    if is_locally_administered(mac):
        return None
    return OUI_VENDORS.get(mac[:8].lower())
