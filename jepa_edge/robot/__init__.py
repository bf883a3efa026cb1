"""The robot side of the loop: Robot and Camera interfaces, the serial-bridge robot, the built-in world, Gymnasium."""
