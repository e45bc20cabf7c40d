"""retrain's Temporal Python trainer worker; docs/trainers.md is the contract it keeps."""

from .params import Param
from .user import UserData, UserResult, trainer

__all__ = ["Param", "UserData", "UserResult", "trainer"]
