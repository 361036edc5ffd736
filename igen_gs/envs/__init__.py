"""Simulators as judges of generated data (robosuite first), imported lazily.

* :mod:`.wire` -- the bridge's message format (NumPy + standard library only);
* :mod:`.robosuite_server` -- the server that runs in robosuite's own venv;
* :mod:`.robosuite` -- the client (:class:`~.robosuite.RobosuiteEnv`) and the lift inputs of a
  reset;
* :mod:`.control` -- the one action representation (target TCP pose + gripper, base frame) and
  its conversion into controller commands;
* :mod:`.expert` -- the scripted expert with privileged state;
* :mod:`.demos` -- "real" demonstrations, generated demonstrations from one photo, open-loop
  replay.
"""
