"""Why a Dagster step failed, in its own words: the innermost error of a STEP_FAILURE event, under the wrappers
Dagster puts around it (the retry policy's `Exceeded max_retries`, the step execution error), without the class
name the message repeats. Every command that reports a failed run says it this way."""
from __future__ import annotations

import re
from dataclasses import dataclass

# Dagster's own wrappers around a step's error: the cause is further in.
_DAGSTER_WRAPPERS = ("Failure", "DagsterExecutionStepExecutionError", "RetryRequestedFromPolicy", "RetryRequested",
                     "DagsterUserCodeExecutionError")


@dataclass(frozen=True)
class StepError:
    step_key: str
    kind: str  # the error's class, "" for Dagster's own (a Failure's description says it all)
    cause: str  # the first line of its message
    retried: str | None = None  # the retry policy's note, when the step was retried before it failed

    def line(self) -> str:
        """`chain_ingestion: RpcUnavailable: eth_chainId: … (exceeded max_retries of 3)`"""
        retried = f" ({self.retried[0].lower()}{self.retried[1:]})" if self.retried else ""
        return f"{self.step_key}: {self.kind + ': ' if self.kind else ''}{self.cause}{retried}"


def step_error(event) -> StepError:
    error = getattr(event.event_specific_data, "error", None)
    if error is None or not error.message:
        return StepError(event.step_key, "", event.message)
    chain = [error]
    while chain[-1].cause is not None or chain[-1].context is not None:
        chain.append(chain[-1].cause or chain[-1].context)
    innermost = next((e for e in reversed(chain) if e.cls_name not in _DAGSTER_WRAPPERS and e.message), chain[-1])
    retried = next((e.message.strip() for e in chain if e.cls_name == "RetryRequestedFromPolicy"), None)
    kind = "" if innermost.cls_name in _DAGSTER_WRAPPERS else (innermost.cls_name or "")
    # the message may repeat the class, qualified (`assets.chain.rpc.RpcUnavailable: ...`)
    cause = re.sub(rf"^(?:[\w.]+\.)?{re.escape(innermost.cls_name or '')}: ", "",
                   innermost.message.strip().splitlines()[0])
    return StepError(event.step_key, kind, cause, retried)
