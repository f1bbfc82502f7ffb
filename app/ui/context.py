"""What the pages share: the backend (session, onboarding, workflow), the runner and the profile.

The backend is loaded lazily (after the first window is shown) so that start-up imports only
PySide6; tests hand in a fake backend with the same names. Pages read results through ``pick``
because the core result types are plain dataclasses or dicts, and a page must not care which.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable


@dataclass
class Backend:
    session: Any
    onboarding: Any
    workflow: Any


def load_backend(home: str | None = None, ask_passphrase: Callable[[str], str] | None = None,
                 allow_insecure_loopback: bool = False) -> Backend:
    """The real services; imported here, not at module level, to keep the first paint fast."""
    from app.core import keys, onboarding, workflow
    from app.core.session import Session

    keys.offload(True)  # the 600,000-round PKCS#12 KDF holds the GIL: run it in a child, not on our time
    session = Session(home=home, ask_passphrase=ask_passphrase, allow_insecure_loopback=allow_insecure_loopback)
    return Backend(session, onboarding, workflow)


def pick(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute / key among ``names`` (results may be dataclasses or dicts)."""
    for name in names:
        if isinstance(obj, dict):
            if obj.get(name) is not None:
                return obj[name]
        elif getattr(obj, name, None) is not None:
            return getattr(obj, name)
    return default


@dataclass
class WizardContext:
    """Shared, mutable state of one wizard run. Pages write results back here and into the profile."""

    runner: Any
    backend: Backend | None = None
    profile: Any = None
    community: str | None = None          # chosen before the profile exists
    resume_target: str | None = None      # step name the start page continues with
    jump_target: str | None = None        # set by "go to step": the start page passes straight through
    discovery: dict[str, Any] = field(default_factory=dict)   # server -> DiscoveryReport
    server: str | None = None
    statement_request: Any = None         # onboarding.StatementRequest chosen on the details page
    last_registration: list[Any] = field(default_factory=list)
    last_check: Any = None
    uri_warnings: list[str] = field(default_factory=list)  # client-URI warning codes from create_profile
    practice_info: dict | None = None     # what session.practice.start() described
    listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def session(self) -> Any:
        return self.backend.session if self.backend else None

    @property
    def onboarding(self) -> Any:
        return self.backend.onboarding if self.backend else None

    @property
    def workflow(self) -> Any:
        return self.backend.workflow if self.backend else None

    def now(self) -> datetime:
        if self.backend is not None and hasattr(self.session, "now"):
            return self.session.now()
        return datetime.now(timezone.utc)

    def set_profile(self, profile: Any) -> None:
        self.profile = profile
        if profile is not None and getattr(profile, "community", None):
            self.community = profile.community
        for notify in list(self.listeners):
            notify()

    def save_profile(self, step_name: str | None = None) -> None:
        """Persist after each completed step (records the step the user reached)."""
        if self.profile is None or self.backend is None:
            return
        if step_name is not None and hasattr(self.profile, "step"):
            value = self.step(step_name)
            value = getattr(value, "value", value)
            try:
                self.profile.step = value
            except dataclasses.FrozenInstanceError:
                self.profile = dataclasses.replace(self.profile, step=value)
        self.session.profiles.save(self.profile)
        self.set_profile(self.profile)

    def step(self, name: str) -> Any:
        return self.workflow.Step[name]

    def state(self) -> Any:
        if self.profile is None or self.backend is None:
            return None
        return self.workflow.OnboardingState.from_profile(self.profile, self.now())

    def community_name(self) -> str | None:
        return getattr(self.profile, "community", None) or self.community

    # ---------------------------------------------------------------- explanations

    def explain(self, error: BaseException) -> Any:
        try:
            from app.ui.feedback import describe
        except Exception:  # noqa: BLE001 - the table must never be the reason a page crashes
            return _Fallback(str(error) or type(error).__name__)
        return describe(error)

    def explain_code(self, domain: str, code: str, fields: dict | None = None) -> Any:
        """Explain a report item (a Problem, a trust/discovery row) with the same table as errors."""
        from app.core import errors

        cls = next((c for c in _subclasses(errors.UdapOnboardError) if c.domain == domain),
                   errors.UdapOnboardError)
        exp = self.explain(cls(code, **(fields or {})))
        try:
            from app.ui.feedback import has_entry
            specific = has_entry(domain, code)
        except Exception:  # noqa: BLE001
            specific = False
        if not specific:  # a general sentence alone would hide which value is wrong
            said = code.replace("_", " ")
            if fields:
                said += ": " + ", ".join(f"{k} {v}" for k, v in fields.items())
            exp = _Fallback(f"{exp.summary} ({said})", exp.next_step, exp.details)
        return exp


@dataclass
class _Fallback:
    summary: str
    next_step: str = "Try the step again."
    details: str = ""


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out
