"""`EnergyMeter`: energy (kWh) and CO2 (g) of a block of code with CodeCarbon's offline tracker.

CodeCarbon measures CPU energy only where Intel RAPL (or a vendor power tool) is readable; elsewhere it
estimates it as the CPU's power from a TDP table × this process's CPU load, and RAM energy is always a
rule of thumb (watts per GB). The meter says which happened (`measured`, `method`), so an estimate is
never shown as a measurement. It writes no file, keeps CodeCarbon's logging quiet, and when CodeCarbon
cannot run the block still runs and the reading says why there is no figure.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from headstart.errors import UsageError, did_you_mean

COUNTRY_ENV = "HEADSTART_COUNTRY"
WORLD = "WORLD"  # the default: CodeCarbon's world-average grid intensity (IEA figure shipped with it)
MEASURED_CPU_MODES = ("intel_rapl", "intel_power_gadget", "apple_powermetrics", "windows_emi")
MEASURE_POWER_SECONDS = 5.0


@dataclass
class EnergyReading:
    """What one metered block consumed; `energy_kwh`/`co2_g` are None when CodeCarbon could not run."""

    energy_kwh: float | None = None
    co2_g: float | None = None
    measured: bool | None = None  # True: RAPL-type counters; False: estimated; None: no figure
    method: str = ""
    country: str = WORLD
    carbon_intensity_g_per_kwh: float | None = None
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """`measured`, `estimated` or `unavailable`, for tables and figures."""
        if self.energy_kwh is None:
            return "unavailable"
        return "measured" if self.measured else "estimated"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "energy_label": self.label}


def default_country() -> str:
    """`$HEADSTART_COUNTRY`, else `WORLD` (CodeCarbon's world-average carbon intensity)."""
    return (os.environ.get(COUNTRY_ENV) or WORLD).strip().upper()


def check_country(code: str | None) -> str:
    """An upper-case ISO 3166-1 alpha-3 code CodeCarbon has an energy mix for, or `WORLD`."""
    value = (code or default_country()).strip().upper()
    if value == WORLD:
        return value
    known = _energy_mix()
    if known is not None and value not in known:
        hint = did_you_mean(value, known)
        raise UsageError(
            f"unknown country code {value!r}" + (f" — did you mean {hint!r}?" if hint else ""),
            expected="an ISO 3166-1 alpha-3 code such as FRA, DEU, USA, GBR, IND, or WORLD for the world average",
            fix=f"pass --country with a three-letter code, or set {COUNTRY_ENV}",
        )
    return value


def _energy_mix() -> dict[str, Any] | None:
    try:
        from codecarbon.input import DataSource

        return DataSource().get_global_energy_mix_data()
    except Exception:  # codecarbon missing or its data unreadable: the meter reports that itself
        return None


def _world_intensity() -> float:
    from codecarbon.input import DataSource

    return float(DataSource().get_carbon_intensity_per_source_data()["world_average"])


class EnergyMeter:
    """Context manager: `with EnergyMeter("FRA") as meter: ...` then `meter.reading`."""

    def __init__(self, country: str | None = None, *, enabled: bool = True) -> None:
        self.country = check_country(country)
        self.enabled = enabled
        self.reading = EnergyReading(country=self.country)
        self._tracker: Any = None
        self._started = 0.0
        self._logger = logging.getLogger("codecarbon")
        self._logger_was_disabled = False

    def __enter__(self) -> EnergyMeter:
        self._started = time.perf_counter()
        if not self.enabled:
            self.reading.method = "energy metering turned off"
            return self
        # CodeCarbon logs at INFO/WARNING whatever `log_level` says, also from its sampling thread: mute it
        self._logger_was_disabled, self._logger.disabled = self._logger.disabled, True
        try:
            self._tracker = self._make_tracker()
            self._tracker.start()
        except Exception as err:  # any CodeCarbon failure degrades to "no figure", said in `method`
            self._tracker = None
            self.reading.method = f"CodeCarbon could not run ({type(err).__name__}: {err}); no energy figure"
        return self

    def __exit__(self, *exc: object) -> None:
        self.reading.seconds = time.perf_counter() - self._started
        if self._tracker is None:
            self._logger.disabled = self._logger_was_disabled
            return
        try:
            self._tracker.stop()
            data = self._tracker.final_emissions_data
            cpu = next((h for h in self._tracker._hardware if type(h).__name__ == "CPU"), None)
        except Exception as err:
            self.reading.method = f"CodeCarbon failed while stopping ({type(err).__name__}: {err}); no energy figure"
            return
        finally:
            self._logger.disabled = self._logger_was_disabled
        kwh = float(data.energy_consumed)
        self.reading.energy_kwh = kwh
        self.reading.co2_g = float(data.emissions) * 1000.0
        self.reading.carbon_intensity_g_per_kwh = self.reading.co2_g / kwh if kwh > 0 else None
        self.reading.measured, self.reading.method = _describe(cpu, data)

    def _make_tracker(self) -> Any:
        from codecarbon import OfflineEmissionsTracker

        options: dict[str, Any] = {
            "save_to_file": False,
            "save_to_api": False,
            "log_level": "critical",
            "measure_power_secs": MEASURE_POWER_SECONDS,
            "tracking_mode": "process",  # the machine may be shared: count this process's load only
            "allow_multiple_runs": True,  # no lock file
        }
        if self.country == WORLD:
            options["country_iso_code"] = "USA"  # required by the tracker; the intensity below overrides it
            options["force_carbon_intensity_g_co2e_kwh"] = _world_intensity()
        else:
            options["country_iso_code"] = self.country
        return OfflineEmissionsTracker(**options)


def _describe(cpu: Any, data: Any) -> tuple[bool, str]:
    """(measured?, how): RAPL-type counters count as measured; anything else is an estimate."""
    mode = getattr(cpu, "_mode", None)
    model = getattr(data, "cpu_model", "") or "unknown CPU"
    ram = "RAM from a watts-per-GB rule"
    if mode in MEASURED_CPU_MODES:
        return True, f"measured: CPU energy from {mode} counters ({model}); {ram} (estimated)"
    tdp = getattr(cpu, "_tdp", None)
    generic = " (generic TDP: model not in CodeCarbon's table)" if getattr(cpu, "_is_generic_tdp", False) else ""
    power = f"{tdp:g} W (CodeCarbon's TDP figure for {model})" if isinstance(tdp, int | float) else "a TDP table"
    how = "× this process's CPU load" if mode == "cpu_load" else f"(mode {mode})"
    return False, f"estimated: no RAPL counters readable; CPU power = {power}{generic} {how}; {ram}"


@contextmanager
def metered(country: str | None = None, *, enabled: bool = True) -> Iterator[EnergyReading]:
    """`with metered("FRA") as reading:` — the reading is filled in when the block ends."""
    meter = EnergyMeter(country, enabled=enabled)
    with meter:
        yield meter.reading
