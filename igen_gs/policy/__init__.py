"""The yardstick policy: one small behaviour-cloning recipe trained the same way on every
dataset (:mod:`.train`), loaded from LeRobot v3 datasets written by :mod:`igen_gs.io`
(:mod:`.data`), rolled out closed loop in a simulator (:mod:`.rollout`) and scored with 95 %
Wilson intervals (:mod:`.stats`).

Recipe: agentview RGB (84 x 84) + proprioception (TCP position, 6D rotation, gripper, base
frame) -> a small conv encoder with spatial-softmax keypoints + MLP -> a chunk of 8 future
actions (target TCP pose + gripper, ``ee_6d``), 4 of them executed before the next
prediction; random-shift crops and colour jitter; MSE on normalised actions; Adam; fixed
number of gradient steps whatever the data.
"""
