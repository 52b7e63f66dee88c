"""The web page: its action turns a photo and speech into a video through a trained run and reports bad
input as messages; a slow test drives the page in headless Chromium."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from sandbox.app import AUTO, animate, animate_stream, find_runs, run_scales
from sandbox.errors import ConfigError, InputFileError, NoFaceError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import sandbox

    tmp = tmp_path_factory.mktemp("app")
    os.environ["SANDBOX_CACHE"] = str(tmp / "cache")
    try:
        run = sandbox.run_crossing("rep=3dmm", "gen=flow", "preset=smoke", "stage=train", f"out={tmp / 'runs' / 'r3'}")
    finally:
        os.environ.pop("SANDBOX_CACHE")
    from PIL import Image
    from skimage import data as skdata

    from sandbox.audio.io import save_wav

    Image.fromarray(skdata.astronaut()).save(tmp / "astronaut.png")
    Image.fromarray(np.full((96, 96, 3), 200, np.uint8)).save(tmp / "wall.png")
    clip = run.store.load(run.store.ids("test")[0])
    save_wav(tmp / "speech.wav", clip.audio)
    (tmp / "notes.wav").write_text("not audio")
    return tmp, find_runs([tmp / "runs"])


def test_action_makes_the_video_and_refuses_bad_input(trained):
    from sandbox.video import read_video

    tmp, runs = trained
    assert list(runs) == ["r3"]
    mp4 = animate(runs, "r3", str(tmp / "astronaut.png"), str(tmp / "speech.wav"), "happy", 2.0, 1.0, 0)
    from sandbox.audio.io import load_audio

    frames, _, audio = read_video(mp4)
    n_audio = len(load_audio(tmp / "speech.wav"))
    assert abs(len(frames) - n_audio / 640) <= 1 and frames.std() > 5 and abs(len(audio) - n_audio) < 640
    with pytest.raises(NoFaceError):
        animate(runs, "r3", str(tmp / "wall.png"), str(tmp / "speech.wav"), AUTO, 2.0, 1.0, 0)
    with pytest.raises(InputFileError):
        animate(runs, "r3", str(tmp / "astronaut.png"), str(tmp / "notes.wav"), AUTO, 2.0, 1.0, 0)
    with pytest.raises(InputFileError, match="speech"):
        animate(runs, "r3", str(tmp / "astronaut.png"), None, AUTO, 2.0, 1.0, 0)
    with pytest.raises(ConfigError, match="no trained run"):
        animate({}, "r3", str(tmp / "astronaut.png"), str(tmp / "speech.wav"), AUTO, 2.0, 1.0, 0)


def test_streamed_action_shows_frames_as_they_come_then_the_whole_video(trained):
    from sandbox.audio.io import load_audio
    from sandbox.video import read_video

    tmp, runs = trained
    outs = list(animate_stream(runs, "r3", str(tmp / "astronaut.png"), str(tmp / "speech.wav"), AUTO, 2.0, 1.0, 0))
    assert len(outs) >= 3 and all(mp4 is None for _, mp4 in outs[:-1])
    assert all(f.ndim == 3 and f.shape[-1] == 3 for f, _ in outs)
    frames = read_video(outs[-1][1])[0]
    assert frames.shape[0] == -(-len(load_audio(tmp / "speech.wav")) // 640)
    assert np.abs(frames[-1].astype(float) - outs[-1][0]).mean() < 8  # the last preview is the video's last frame
    with pytest.raises(NoFaceError):
        list(animate_stream(runs, "r3", str(tmp / "wall.png"), str(tmp / "speech.wav"), AUTO, 2.0, 1.0, 0))


@pytest.mark.slow
def test_page_in_a_real_browser(trained, tmp_path):
    """Upload the astronaut and a held-out sentence in headless Chromium, press Animate, wait for the video:
    it plays for as long as the speech. The screenshot goes to $SANDBOX_SCREENSHOT when set (the README's)."""
    pytest.importorskip("gradio")
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    tmp, _ = trained
    port = 7871
    server = subprocess.Popen(["python", "-m", "sandbox.app", str(tmp / "runs"), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1500", f"--user-data-dir={tmp_path / 'chrome'}"):
        opts.add_argument(flag)
    driver = None
    try:
        for _ in range(120):  # the server imports torch and loads the run
            try:
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=1)
                break
            except OSError:
                time.sleep(1)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
                                  options=opts)
        driver.get(f"http://127.0.0.1:{port}")
        wait = WebDriverWait(driver, 180)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
        driver.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(tmp / "astronaut.png"))
        driver.find_element(By.CSS_SELECTOR, "#speech input[type=file]").send_keys(str(tmp / "speech.wav"))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#speech audio, #speech .waveform-container")))
        time.sleep(2)
        driver.find_element(By.CSS_SELECTOR, "#animate").click()
        video = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#result video")))
        duration = wait.until(lambda d: d.execute_script(
            "const v = arguments[0]; return v.readyState >= 1 && v.duration > 0 ? v.duration : false;", video))
        from sandbox.audio.io import load_audio

        speech_s = len(load_audio(tmp / "speech.wav")) / 16000
        assert abs(duration - speech_s) < 0.2
        driver.execute_script("window.scrollTo(0, 0);")
        shot = tmp_path / "app.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("SANDBOX_SCREENSHOT"):
            shutil.copy(shot, Path(os.environ["SANDBOX_SCREENSHOT"]))
        # streamed: frames show while they are made, then the whole video replaces the first one
        driver.find_element(By.CSS_SELECTOR, "#stream").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#live img")))
        video = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#result video")))
        duration = wait.until(lambda d: d.execute_script(
            "const v = arguments[0]; return v.readyState >= 1 && v.duration > 0 ? v.duration : false;", video))
        assert abs(duration - speech_s) < 0.2
        # a photo without a face: a message on the page, not a traceback
        driver.get(f"http://127.0.0.1:{port}")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
        driver.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(tmp / "wall.png"))
        driver.find_element(By.CSS_SELECTOR, "#speech input[type=file]").send_keys(str(tmp / "speech.wav"))
        time.sleep(3)
        driver.find_element(By.CSS_SELECTOR, "#animate").click()
        wait.until(lambda d: "no face" in d.page_source.lower())
        assert "Traceback" not in driver.page_source
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


def test_sliders_start_at_the_runs_own_guidance(tmp_path):
    (tmp_path / "config.yaml").write_text("sample:\n  guidance: {audio: 2.5, emotion: 1.5}\n")
    assert run_scales(tmp_path) == (2.5, 1.5)
    (tmp_path / "config.yaml").write_text("sample:\n  guidance: {audio: 2.8}\n")  # audio-only (diffusion)
    assert run_scales(tmp_path) == (2.8, 1.0)
    (tmp_path / "config.yaml").write_text("sample:\n  guidance: null\n")
    assert run_scales(tmp_path) == (3.0, 1.0) == run_scales(None)
